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

# Raw-frame WebSocket conformance of the real server (reliability.md §1.3,
# A1-A4, D9, D10): starts docsyncd itself on port 0 with temporary data dirs.
# Cases that cannot pass with lws 4.1.6 are listed (and printed loudly) as
# KNOWN_FAILURES in the script.
if(TARGET docsyncd AND DOCSYNC_NODE)
  add_test(NAME ws-conformance
           COMMAND ${DOCSYNC_NODE} ${CMAKE_SOURCE_DIR}/tests/conformance/ws_raw.mjs $<TARGET_FILE:docsyncd>)
  set_tests_properties(ws-conformance PROPERTIES LABELS integration TIMEOUT 300)
endif()

# Reliability D2 gate: secrets, MACs and signatures are compared with
# CRYPTO_memcmp / sign_equal only. Fails when a plain memcmp/strcmp/strncmp/
# strcasecmp/bcmp call in src/ takes an argument named like a secret or MAC.
add_test(NAME proto-constant-time-gate
         COMMAND sh -c "! grep -rnE '(^|[^_A-Za-z0-9])(memcmp|strcmp|strncmp|strcasecmp|bcmp)[[:space:]]*\\([^;]*\\b(secret|app_secret|hmac|mac|sig|signature|hex|digest|expected)\\b' --include=*.c --include=*.h ${CMAKE_SOURCE_DIR}/src"
         )
set_tests_properties(proto-constant-time-gate PROPERTIES LABELS unit TIMEOUT 30)
