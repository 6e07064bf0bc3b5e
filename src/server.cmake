# The docsyncd executable (owner: helper "server"): libwebsockets event loop,
# connections, channels, presence, client events, sign-in, HTTP API, sweep.
# A module (src/sync.cmake) may add sources with target_sources(docsyncd ...)
# and define docsync_module_init / docsync_module_deinit (server.h).
set(DOCSYNC_SERVER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/hmap.c
  ${CMAKE_CURRENT_LIST_DIR}/frame.c
  ${CMAKE_CURRENT_LIST_DIR}/sendq.c
  ${CMAKE_CURRENT_LIST_DIR}/presence.c
  ${CMAKE_CURRENT_LIST_DIR}/channel.c
  ${CMAKE_CURRENT_LIST_DIR}/metrics.c
  ${CMAKE_CURRENT_LIST_DIR}/utf8.c
  ${CMAKE_CURRENT_LIST_DIR}/route.c
  ${CMAKE_CURRENT_LIST_DIR}/wsmask.c)
# Pure bookkeeping pieces, unit-tested through their headers.
add_library(docsync_core STATIC ${DOCSYNC_SERVER_SOURCES})
target_include_directories(docsync_core PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(docsync_core PUBLIC PkgConfig::XXHASH)

add_executable(docsyncd
  ${CMAKE_CURRENT_LIST_DIR}/main.c
  ${CMAKE_CURRENT_LIST_DIR}/server.c
  ${CMAKE_CURRENT_LIST_DIR}/upgrade.c
  ${CMAKE_CURRENT_LIST_DIR}/conn.c
  ${CMAKE_CURRENT_LIST_DIR}/session.c
  ${CMAKE_CURRENT_LIST_DIR}/subscribe.c
  ${CMAKE_CURRENT_LIST_DIR}/client_event.c
  ${CMAKE_CURRENT_LIST_DIR}/signin.c
  ${CMAKE_CURRENT_LIST_DIR}/sweep.c
  ${CMAKE_CURRENT_LIST_DIR}/http.c
  ${CMAKE_CURRENT_LIST_DIR}/http_api.c
  # Defines recv() for lws (unmasked-frame check, wsmask.h): must stay in
  # the executable itself, never in a library.
  ${CMAKE_CURRENT_LIST_DIR}/wsmask_recv.c)
target_include_directories(docsyncd PRIVATE ${CMAKE_CURRENT_LIST_DIR})
find_package(Threads REQUIRED)
# libev (a dependency of Debian's libwebsockets-dev): lws's evlib_ev plugin runs on our loop.
find_library(DOCSYNC_LIBEV ev REQUIRED)
target_link_libraries(docsyncd PRIVATE docsync_core docsync_proto PkgConfig::LWS PkgConfig::CJSON
  PkgConfig::CRYPTO PkgConfig::XXHASH Threads::Threads ${DOCSYNC_LIBEV})
