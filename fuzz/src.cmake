# Fuzz targets of the server part (owner: helper "proto"): the client frame
# parser and the HTTP API signature check. Campaign figures: README,
# "Fuzzing".
docsync_fuzz_target(message_parse LIBS docsync_proto)
docsync_fuzz_target(http_sign LIBS docsync_proto)
docsync_fuzz_target(env_parse LIBS docsync_proto)
