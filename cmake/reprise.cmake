# Helpers shared by every component: one library per directory, aliased as
# reprise::<name>, with the project's warning set; tests carry a CTest label.

set(REPRISE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Werror=unused-result -Wno-missing-field-initializers)
if(REPRISE_WERROR)
  list(APPEND REPRISE_WARNINGS -Werror)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports a false -Wrestrict inside libstdc++'s basic_string at -O2+
    # with C++20 (see shared/notes/build-on-debian12.md §6).
    list(APPEND REPRISE_WARNINGS -Wno-restrict)
  endif()
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  list(APPEND REPRISE_WARNINGS -Wthread-safety)
endif()

if(REPRISE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# reprise_cc_library(NAME n SRCS ... DEPS ...)
function(reprise_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(reprise_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(reprise::${ARG_NAME} ALIAS reprise_${ARG_NAME})
  target_include_directories(reprise_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(reprise_${ARG_NAME} PRIVATE ${REPRISE_WARNINGS})
  target_link_libraries(reprise_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# reprise_cc_binary(NAME n SRCS ... DEPS ...)
function(reprise_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${ARG_NAME} PRIVATE ${REPRISE_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()

# reprise_cc_test(NAME n SRCS ... DEPS ... LABELS unit|integration|e2e|fault
#                 [TIMEOUT seconds])
function(reprise_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT REPRISE_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  reprise_cc_binary(NAME ${ARG_NAME} SRCS ${ARG_SRCS}
                    DEPS ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
