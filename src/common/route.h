/* route: the path patterns of the server's route table (http_route()).
 *
 * A pattern is a path of '/'-separated segments: a literal, "{}" or
 * "{name}" (exactly one non-empty segment, captured), or a final "*" (the
 * rest of the path after that slash, possibly empty, captured: the pattern
 * "/x/" followed by "*" matches "/x/" and "/x/a/b" but not "/x"). Matching is exact otherwise
 * (no trailing-slash tolerance, case-sensitive). Pure; thread-safe.
 */
#ifndef DOCSYNC_ROUTE_H
#define DOCSYNC_ROUTE_H

/* Returns 1 when `path` matches `pattern`, else 0. With `caps` non-NULL,
 * stores up to `maxcaps` malloc'd copies of the captured segments (caller
 * frees them) and their count in *ncaps; on no match nothing is left
 * allocated and *ncaps is 0. With `caps` NULL nothing is captured and
 * *ncaps is 0. */
int route_match(const char *pattern, const char *path, char **caps, unsigned maxcaps,
                unsigned *ncaps);

#endif
