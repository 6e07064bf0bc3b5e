# Document sync (owner: helper "sync"). Pure pieces without libwebsockets go
# into the static library docsync_sync (unit-tested, fuzzed, shared with the
# docsync-admin CLI); the lws-facing parts are added to docsyncd when the
# server, store and crdt targets exist.
add_library(docsync_sync STATIC
  ${CMAKE_CURRENT_LIST_DIR}/sync_base64.c
  ${CMAKE_CURRENT_LIST_DIR}/token.c
  ${CMAKE_CURRENT_LIST_DIR}/auth_rules.c)
target_include_directories(docsync_sync PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(docsync_sync PUBLIC PkgConfig::CJSON PkgConfig::CRYPTO m)
