/*
 * miscommd and the Windows Service Control Manager (service_win.c says how
 * controls map onto the drain and the reload). Windows build only. Each
 * returns miscommd's exit status.
 */
#ifndef MC_SERVICE_WIN_H
#define MC_SERVICE_WIN_H
#ifdef _WIN32

/* --service: run under the SCM, which started this process. */
int service_run(const char *config);
/* --install-service: register "miscomm" (automatic start, restart on failure)
 * to run this executable with config, and the Event Log source. */
int service_install(const char *config);
/* --uninstall-service: stop it if running, remove it and the Event Log source. */
int service_uninstall(void);
/* --start-service, --stop-service: and wait until it is running, or stopped. */
int service_start(void);
int service_stop(void);
/* --service-status: print running/stopped/...; 0 when running, 3 otherwise. */
int service_status(void);

#endif
#endif
