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

# docsync_node_test(<ctest name> <file> <test ms> <timeout s> [VAR=value...]): runs
# tests/<area>/<file> with Node's test runner (spec reporter, each test cut at <test ms>) against
# the real binary, as an integration test; DOCSYNCD and NODE_PATH are always in its environment,
# the extra VAR=value pairs beside them.
function(docsync_node_test name file test_ms timeout)
  add_test(NAME ${name}
    COMMAND ${DOCSYNC_NODE} --test --test-reporter=spec --test-force-exit --test-timeout=${test_ms}
            ${CMAKE_CURRENT_SOURCE_DIR}/${file}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set(env "DOCSYNCD=$<TARGET_FILE:docsyncd>" ${ARGN} "NODE_PATH=${CMAKE_SOURCE_DIR}/node_modules")
  set_tests_properties(${name} PROPERTIES LABELS "integration" TIMEOUT ${timeout} ENVIRONMENT "${env}")
endfunction()
