# Tests of the pure protocol library (src/proto.cmake) and the raw WebSocket
# conformance script. Owner: helper "proto". Targets are prefixed proto_ so
# they cannot clash with other parts' test targets.
foreach(t IN ITEMS test_sign test_message test_channel_name test_config test_log)
  if(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${t}.c")
    add_executable(proto_${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    target_include_directories(proto_${t} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
    target_link_libraries(proto_${t} PRIVATE docsync_proto)
    add_test(NAME proto-${t} COMMAND proto_${t})
    set_tests_properties(proto-${t} PROPERTIES LABELS unit TIMEOUT 60)
  endif()
endforeach()

# Cross-check of the verifier against the npm `pusher` SDK's signatures.
add_executable(proto_sign_cli ${CMAKE_CURRENT_SOURCE_DIR}/sign_cli.c)
target_link_libraries(proto_sign_cli PRIVATE docsync_proto)
find_program(DOCSYNC_NODE node)
if(DOCSYNC_NODE)
  add_test(NAME proto-sign-oracle
           COMMAND ${DOCSYNC_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/sign_oracle.mjs $<TARGET_FILE:proto_sign_cli>
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(proto-sign-oracle PROPERTIES LABELS unit TIMEOUT 60 SKIP_RETURN_CODE 77)
endif()
