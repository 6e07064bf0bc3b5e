# docsync_proto: the pure protocol pieces of the server (no libwebsockets):
# configuration, logging, signatures, Pusher messages, channel names.
# Unit-tested in tests/src/proto.cmake and fuzzed in fuzz/src.cmake.
add_library(docsync_proto STATIC
  ${CMAKE_CURRENT_LIST_DIR}/config.c
  ${CMAKE_CURRENT_LIST_DIR}/log.c
  ${CMAKE_CURRENT_LIST_DIR}/sign.c
  ${CMAKE_CURRENT_LIST_DIR}/message.c
  ${CMAKE_CURRENT_LIST_DIR}/message_build.c
  ${CMAKE_CURRENT_LIST_DIR}/channel_name.c)
target_include_directories(docsync_proto PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(docsync_proto PUBLIC PkgConfig::CJSON PkgConfig::CRYPTO m)
