/* A device's folders, from the connection's configuration. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"

int files_folder_path(const struct cfg_connection *cfg, const char *device, int receive, char *path,
                      size_t cap)
{
    const char *tpl = receive ? cfg->receive_files_dir : cfg->send_files_dir;
    size_t o = 0;
    for (const char *p = tpl; *p;) {
        const char *piece = p;
        size_t n;
        if (strncmp(p, "{device}", 8) == 0) {
            piece = device;
            n = strlen(device);
            p += 8;
        } else {
            n = 1;
            p++;
        }
        if (o + n >= cap)
            return MC_ERR_BAD_NAME;
        memcpy(path + o, piece, n);
        o += n;
    }
    path[o] = 0;
    return 0;
}

int files_folder_open(const struct cfg_connection *cfg, const char *device, int receive, int create,
                      char *path, size_t cap)
{
    int rc = files_folder_path(cfg, device, receive, path, cap);
    return rc < 0 ? rc : files_dir_open(path, create || receive);
}
