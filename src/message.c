/* message: see message.h. (Work in progress: parsing stubbed.) */
#include "message.h"

#include <stdlib.h>

int message_parse(const char *buf, size_t len, const struct message_limits *limits,
                  message **out)
{
    (void)buf, (void)len, (void)limits;
    *out = NULL;
    return MESSAGE_EINVALID;
}

void message_free(message *m)
{
    (void)m;
}
