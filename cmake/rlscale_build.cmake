# rlscale_add_header_check(<target> INCLUDE_DIR <dir> GLOBS <pattern>... LINK <library>...)
#
# Checks that every header matched by GLOBS (paths under INCLUDE_DIR) is
# self-contained: each is compiled alone in its own generated translation
# unit, twice in a row to catch a missing include guard, as the OBJECT
# library <target>. A header that is not fails the build. Umbrella headers
# (nothing but comments and preprocessor lines) are left out: they are
# self-contained when what they include is. Only whether a header compiles
# matters, so no optimiser.
function(rlscale_add_header_check target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "INCLUDE_DIR" "GLOBS;LINK")
  set(globs)
  foreach(pattern ${arg_GLOBS})
    list(APPEND globs ${arg_INCLUDE_DIR}/${pattern})
  endforeach()
  file(GLOB_RECURSE headers RELATIVE ${arg_INCLUDE_DIR} CONFIGURE_DEPENDS ${globs})
  set(sources)
  foreach(header ${headers})
    file(STRINGS ${arg_INCLUDE_DIR}/${header} code REGEX "^[ \t]*[^ \t#/*]")
    if(NOT code)
      continue()
    endif()
    string(MAKE_C_IDENTIFIER ${header} name)
    set(source ${CMAKE_CURRENT_BINARY_DIR}/${target}/${name}.cpp)
    file(CONFIGURE OUTPUT ${source} CONTENT "#include <${header}>\n#include <${header}>\n")
    list(APPEND sources ${source})
  endforeach()
  add_library(${target} OBJECT ${sources})
  target_link_libraries(${target} PRIVATE ${arg_LINK} rlscale_project_options)
  target_compile_options(${target} PRIVATE -O0)
endfunction()

# rlscale_unity_tests(<target>): compile a test executable as a unity build
# (8 files per translation unit) when RLSCALE_UNITY_TESTS is on. Each test
# file keeps its names in its own namespace, so files cannot collide;
# tests/main.cpp (doctest's implementation) is compiled alone.
function(rlscale_unity_tests target)
  if(RLSCALE_UNITY_TESTS)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/tests/main.cpp
      TARGET_DIRECTORY ${target} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
endfunction()
