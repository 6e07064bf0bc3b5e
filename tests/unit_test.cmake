# docsync_unit_test(<area> <name> <library>): builds tests/<area>/test_<name>.c against <library>
# and registers it as the ctest `<area>.<name>` (label unit). Unit tests go through public
# headers only and share tests/test.h.
function(docsync_unit_test area name lib)
  add_executable(test_${area}_${name} ${CMAKE_CURRENT_SOURCE_DIR}/test_${name}.c)
  target_include_directories(test_${area}_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_${area}_${name} PRIVATE ${lib})
  add_test(NAME ${area}.${name} COMMAND test_${area}_${name})
  set_tests_properties(${area}.${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()
