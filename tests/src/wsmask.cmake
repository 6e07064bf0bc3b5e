# Tests of the unmasked-frame check (src/wsmask.h, owner: helper "unmask").
# server-wsmask: the scanner as a pure function over byte chunks (< 1 s).
add_executable(test_wsmask ${CMAKE_CURRENT_LIST_DIR}/test_wsmask.c)
target_include_directories(test_wsmask PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_wsmask PRIVATE docsync_core)
add_test(NAME server-wsmask COMMAND test_wsmask)
set_tests_properties(server-wsmask PROPERTIES LABELS unit TIMEOUT 60)

# wsmask-bytewise: the real server's recv() hook on the paths ws_raw.mjs does
# not reach (a frame's first byte alone in a segment; frames in the same
# write as the upgrade request); starts docsyncd itself on port 0 (~2 s).
find_program(DOCSYNC_NODE node)
if(TARGET docsyncd AND DOCSYNC_NODE)
  add_test(NAME wsmask-bytewise
           COMMAND ${DOCSYNC_NODE} ${CMAKE_CURRENT_LIST_DIR}/wsmask_bytewise.mjs $<TARGET_FILE:docsyncd>)
  set_tests_properties(wsmask-bytewise PROPERTIES LABELS integration TIMEOUT 120)
endif()
