/* config: see config.h. (Work in progress.) */
#include "config.h"

#include <string.h>

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}
