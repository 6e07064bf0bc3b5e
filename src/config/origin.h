/* origin: whether a browser's Origin header may open a WebSocket. Pure,
 * thread-safe. */
#ifndef DOCSYNC_ORIGIN_H
#define DOCSYNC_ORIGIN_H

/* 1 when `origin` (an Origin header value such as "https://app.test:8443",
 * or NULL when the request had none) is allowed by `list`, the
 * comma-separated REVERB_ALLOWED_ORIGINS: "*" allows everything, other
 * entries are host patterns where '*' matches any run of characters
 * ("*.example.com"); scheme, user info and port are ignored; entries are
 * trimmed. Else 0. */
int origin_allowed(const char *list, const char *origin);

#endif
