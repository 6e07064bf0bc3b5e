# Unit test of the unmasked-frame scanner (src/wsmask.c, owner: helper
# "unmask"): a pure function over byte chunks; well under a second.
add_executable(test_wsmask ${CMAKE_CURRENT_LIST_DIR}/test_wsmask.c)
target_include_directories(test_wsmask PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_wsmask PRIVATE docsync_core)
add_test(NAME server-wsmask COMMAND test_wsmask)
set_tests_properties(server-wsmask PROPERTIES LABELS unit TIMEOUT 60)
