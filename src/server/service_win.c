/*
 * miscommd as a Windows service (the Service Control Manager), Windows
 * build only. The service is named "miscomm" and runs
 *     "miscommd.exe" --service -c "CONFIG"
 * as LocalSystem, started automatically and restarted on failure.
 *
 * Controls arrive on the SCM's own thread; they reach the event loop
 * through a uv_async_t, so that only the loop thread touches the server:
 * STOP and SHUTDOWN begin the same drain as SIGTERM, PARAMCHANGE (what
 * `misctl reload` sends) the same reload as SIGHUP. The service reports
 * START_PENDING until the listeners are up, RUNNING then, STOP_PENDING
 * during the drain, and STOPPED with miscommd's exit code.
 */
#ifdef _WIN32

#include "service_win.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <windows.h>

#include "log.h"
#include "miscomm/error.h"
#include "server.h"

#define SERVICE_NAME    L"miscomm"
#define SERVICE_DISPLAY L"miscomm gateway"
#define SERVICE_DESC                                                                               \
    L"TLS gateway between field devices and the service-desk database and file folders "           \
    L"(TCP port 9000)."
#define EVENTLOG_KEY "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\miscomm"

enum { CTL_NONE, CTL_STOP, CTL_RELOAD };

static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status = {.dwServiceType = SERVICE_WIN32_OWN_PROCESS};
static const char *service_config;
static struct server *service_srv;
static uv_async_t control_async;
static atomic_int control_pending = CTL_NONE;

static void report(DWORD state, DWORD exit_code, DWORD wait_ms)
{
    static DWORD checkpoint = 1;
    status.dwCurrentState = state;
    status.dwWin32ExitCode = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
    status.dwServiceSpecificExitCode = exit_code;
    status.dwWaitHint = wait_ms;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING
            ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
            : 0;
    status.dwCheckPoint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : checkpoint++;
    SetServiceStatus(status_handle, &status);
}

/* On the loop thread: act on the control the SCM thread left. */
static void on_control(uv_async_t *a)
{
    (void)a;
    int ctl = atomic_exchange(&control_pending, CTL_NONE);
    if (ctl == CTL_STOP) {
        report(SERVICE_STOP_PENDING, 0, (DWORD)(service_srv->cfg.shutdown_grace + 5) * 1000u);
        server_stop(service_srv, "SERVICE_CONTROL_STOP");
    } else if (ctl == CTL_RELOAD) {
        (void)server_reload(service_srv);
    }
}

/* On the SCM's thread. */
static DWORD WINAPI on_scm_control(DWORD ctl, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (ctl) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        atomic_store(&control_pending, CTL_STOP);
        uv_async_send(&control_async);
        return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:
        /* A stop already asked for is not turned into a reload. */
        {
            int none = CTL_NONE;
            atomic_compare_exchange_strong(&control_pending, &none, CTL_RELOAD);
        }
        uv_async_send(&control_async);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc;
    (void)argv;
    status_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, on_scm_control, NULL);
    if (!status_handle)
        return;
    report(SERVICE_START_PENDING, 0, 30000);
    struct server srv;
    int rc = server_init(&srv, service_config);
    if (rc < 0) {
        log_error("event=start_failed config=%s error=\"%s\"", service_config,
                  rc == MC_ERR_CONFIG ? "invalid configuration" : mc_strerror(rc));
        server_free(&srv);
        report(SERVICE_STOPPED, rc == MC_ERR_CONFIG ? 78 : 1, 0);
        return;
    }
    service_srv = &srv;
    uv_async_init(srv.loop, &control_async, on_control);
    uv_unref((uv_handle_t *)&control_async); /* the drain alone decides when the loop ends */
    report(SERVICE_RUNNING, 0, 0);
    int code = server_run(&srv);
    report(SERVICE_STOP_PENDING, 0, 10000);
    server_free(&srv);
    service_srv = NULL;
    report(SERVICE_STOPPED, (DWORD)code, 0);
}

int service_run(const char *config)
{
    service_config = config;
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME, service_main}, {NULL, NULL}};
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD e = GetLastError();
        fprintf(stderr,
                "miscommd: --service: not started by the service manager (Windows error %lu); "
                "run without --service in a console, or 'miscommd --start-service'\n",
                (unsigned long)e);
        return 1;
    }
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "miscommd: %s: Windows error %lu%s\n", what, (unsigned long)GetLastError(),
            GetLastError() == ERROR_ACCESS_DENIED ? " (run from an administrator's prompt)" : "");
    return 1;
}

/* The Event Log source "miscomm", so that log_target = syslog has somewhere to go. */
static void eventlog_register(const wchar_t *exe)
{
    HKEY k;
    if (RegCreateKeyExA(HKEY_LOCAL_MACHINE, EVENTLOG_KEY, 0, NULL, 0, KEY_SET_VALUE, NULL, &k,
                        NULL) != ERROR_SUCCESS)
        return;
    DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
    RegSetValueExA(k, "TypesSupported", 0, REG_DWORD, (const BYTE *)&types, sizeof types);
    RegSetValueExW(k, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)exe,
                   (DWORD)((wcslen(exe) + 1) * sizeof *exe));
    RegCloseKey(k);
}

int service_install(const char *config)
{
    wchar_t exe[MAX_PATH], cfg[MAX_PATH], cmd[3 * MAX_PATH];
    if (!GetModuleFileNameW(NULL, exe, MAX_PATH))
        return fail("--install-service: cannot find miscommd.exe");
    char full[MAX_PATH];
    if (!_fullpath(full, config, sizeof full) ||
        !MultiByteToWideChar(CP_UTF8, 0, full, -1, cfg, MAX_PATH)) {
        fprintf(stderr, "miscommd: --install-service: bad configuration path '%s'\n", config);
        return 1;
    }
    _snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" --service -c \"%ls\"", exe, cfg);
    cmd[sizeof cmd / sizeof cmd[0] - 1] = 0;
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
    if (!scm)
        return fail("--install-service: cannot open the service manager");
    SC_HANDLE svc = CreateServiceW(scm, SERVICE_NAME, SERVICE_DISPLAY, SERVICE_ALL_ACCESS,
                                   SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                   SERVICE_ERROR_NORMAL, cmd, NULL, NULL, L"Tcpip\0\0", NULL, NULL);
    if (!svc) {
        int rc = fail("--install-service: cannot create the service 'miscomm'");
        CloseServiceHandle(scm);
        return rc;
    }
    SERVICE_DESCRIPTIONW desc = {(LPWSTR)SERVICE_DESC};
    ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc);
    /* Restart after 5 s, twice, then after a minute; the count resets daily. */
    SC_ACTION actions[3] = {
        {SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 60000}};
    SERVICE_FAILURE_ACTIONSW fa = {.dwResetPeriod = 86400, .cActions = 3, .lpsaActions = actions};
    ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa);
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    eventlog_register(exe);
    printf("installed the service 'miscomm': %ls\n", cmd);
    return 0;
}

static SC_HANDLE open_service(DWORD access, SC_HANDLE *scm)
{
    *scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    if (!*scm)
        return NULL;
    SC_HANDLE svc = OpenServiceW(*scm, SERVICE_NAME, access);
    if (!svc) {
        DWORD e = GetLastError();
        CloseServiceHandle(*scm);
        SetLastError(e);
    }
    return svc;
}

/* Ask the service to stop and wait up to wait_s for it to be stopped. */
static int stop_and_wait(SC_HANDLE svc, unsigned wait_s)
{
    SERVICE_STATUS st;
    if (!ControlService(svc, SERVICE_CONTROL_STOP, &st) &&
        GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
        return -1;
    for (unsigned i = 0; i < wait_s * 10; i++) {
        if (!QueryServiceStatus(svc, &st) || st.dwCurrentState == SERVICE_STOPPED)
            return 0;
        Sleep(100);
    }
    return -1;
}

int service_uninstall(void)
{
    SC_HANDLE scm, svc = open_service(SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE, &scm);
    if (!svc)
        return fail("--uninstall-service: no service 'miscomm'");
    (void)stop_and_wait(svc, 60);
    int rc = DeleteService(svc) ? 0 : fail("--uninstall-service: cannot delete the service");
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    RegDeleteKeyA(HKEY_LOCAL_MACHINE, EVENTLOG_KEY);
    if (rc == 0)
        printf("removed the service 'miscomm'\n");
    return rc;
}

int service_start(void)
{
    SC_HANDLE scm, svc = open_service(SERVICE_START | SERVICE_QUERY_STATUS, &scm);
    if (!svc)
        return fail("--start-service: no service 'miscomm'");
    int rc = 0;
    if (!StartServiceW(svc, 0, NULL) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING)
        rc = fail("--start-service");
    SERVICE_STATUS st = {0};
    for (int i = 0; rc == 0 && i < 300; i++) {
        if (!QueryServiceStatus(svc, &st) || st.dwCurrentState != SERVICE_START_PENDING)
            break;
        Sleep(100);
    }
    if (rc == 0 && st.dwCurrentState != SERVICE_RUNNING) {
        fprintf(stderr,
                "miscommd: --start-service: the service did not start (exit code %lu; "
                "see its log)\n",
                (unsigned long)st.dwServiceSpecificExitCode);
        rc = 1;
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    if (rc == 0)
        printf("the service 'miscomm' is running\n");
    return rc;
}

int service_stop(void)
{
    SC_HANDLE scm, svc = open_service(SERVICE_STOP | SERVICE_QUERY_STATUS, &scm);
    if (!svc)
        return fail("--stop-service: no service 'miscomm'");
    int rc = stop_and_wait(svc, 60) == 0 ? 0 : fail("--stop-service");
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    if (rc == 0)
        printf("the service 'miscomm' is stopped\n");
    return rc;
}

int service_status(void)
{
    SC_HANDLE scm, svc = open_service(SERVICE_QUERY_STATUS, &scm);
    if (!svc) {
        printf("miscomm: not installed\n");
        return 3;
    }
    SERVICE_STATUS st;
    int ok = QueryServiceStatus(svc, &st);
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    if (!ok)
        return fail("--service-status");
    const char *name = st.dwCurrentState == SERVICE_RUNNING         ? "running"
                       : st.dwCurrentState == SERVICE_STOPPED       ? "stopped"
                       : st.dwCurrentState == SERVICE_START_PENDING ? "starting"
                       : st.dwCurrentState == SERVICE_STOP_PENDING  ? "stopping"
                                                                    : "other";
    printf("miscomm: %s\n", name);
    return st.dwCurrentState == SERVICE_RUNNING ? 0 : 3;
}

#endif
