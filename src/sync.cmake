# Document sync (owner: helper "sync"). Pure pieces without libwebsockets go
# into the static library docsync_sync (unit-tested, fuzzed, shared with the
# docsync-admin CLI); the engine (crdt + store) into docsync_engine; the
# lws-facing glue is added to docsyncd when the server target exists.
add_library(docsync_sync STATIC
  ${CMAKE_CURRENT_LIST_DIR}/sync_activity.c
  ${CMAKE_CURRENT_LIST_DIR}/sync_base64.c
  ${CMAKE_CURRENT_LIST_DIR}/sync_msg.c
  ${CMAKE_CURRENT_LIST_DIR}/token.c
  ${CMAKE_CURRENT_LIST_DIR}/auth_rules.c)
target_include_directories(docsync_sync PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(docsync_sync PUBLIC PkgConfig::CJSON PkgConfig::CRYPTO m)

if(TARGET crdt AND TARGET store)
  add_library(docsync_engine STATIC
    ${CMAKE_CURRENT_LIST_DIR}/document.c
    ${CMAKE_CURRENT_LIST_DIR}/sync_engine.c)
  target_link_libraries(docsync_engine PUBLIC docsync_sync crdt store)

  if(TARGET docsyncd)
    target_sources(docsyncd PRIVATE
      ${CMAKE_CURRENT_LIST_DIR}/sync_server.c
      ${CMAKE_CURRENT_LIST_DIR}/sync_http.c
      ${CMAKE_CURRENT_LIST_DIR}/broadcasting_auth.c)
    target_link_libraries(docsyncd PRIVATE docsync_engine)
  endif()

  add_executable(docsync-admin ${CMAKE_CURRENT_LIST_DIR}/docsync_admin.c)
  target_link_libraries(docsync-admin PRIVATE docsync_engine docsync_proto)
endif()
