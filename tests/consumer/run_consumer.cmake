# Configures, builds and runs tests/consumer in script mode (cmake -P).
#   MODE=fetchcontent: the consumer pulls rlscale from RLSCALE_SOURCE_DIR.
#   MODE=find_package: rlscale is first configured and installed to a
#                      temporary prefix, then found there.
#   RLSCALE_BUILD_ADAPTERS: the outer build's option (ON when not given). ON:
#                      the adapters are installed too, and the consumer finds
#                      them as components and builds adapter_consumer. OFF:
#                      they must not be installed, and the consumer asks for
#                      no component.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

if(NOT DEFINED RLSCALE_BUILD_ADAPTERS)
  set(RLSCALE_BUILD_ADAPTERS ON)
endif()
if(RLSCALE_BUILD_ADAPTERS)
  set(adapters ON)
else()
  set(adapters OFF)
endif()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

# No build type (no optimiser): what is checked is that the project finds,
# compiles and links against rlscale, not how fast the result runs.
set(consumer_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(MODE STREQUAL "find_package")
  # Install rlscale alone (no tests, examples, benchmarks) to a fresh prefix.
  run(${CMAKE_COMMAND} -S ${RLSCALE_SOURCE_DIR} -B ${WORK_DIR}/rlscale-build
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
      -DRLSCALE_BUILD_TESTS=OFF -DRLSCALE_BUILD_EXAMPLES=OFF
      -DRLSCALE_BUILD_BENCHMARKS=OFF -DRLSCALE_BUILD_ADAPTERS=${adapters} -DRLSCALE_BUILD_APPS=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/rlscale-build)
  if(NOT EXISTS ${WORK_DIR}/prefix/include/rlscale/rlscale.hpp)
    message(FATAL_ERROR "install did not place include/rlscale/rlscale.hpp")
  endif()
  # No compiler flag may reach a consumer through the exported target.
  file(GLOB targets_files ${WORK_DIR}/prefix/lib*/cmake/rlscale/rlscale-targets.cmake)
  if(NOT targets_files)
    message(FATAL_ERROR "install did not place rlscale-targets.cmake")
  endif()
  file(GLOB adapter_targets ${WORK_DIR}/prefix/lib*/cmake/rlscale/rlscale-prometheus-targets.cmake)
  if(adapters)
    if(NOT adapter_targets OR NOT EXISTS ${WORK_DIR}/prefix/include/rlscale/kubernetes/client.hpp)
      message(FATAL_ERROR "install did not place the adapters (rlscale-prometheus-targets.cmake, rlscale/kubernetes/)")
    endif()
  elseif(adapter_targets OR EXISTS ${WORK_DIR}/prefix/include/rlscale/kubernetes/client.hpp)
    message(FATAL_ERROR "install placed the adapters although RLSCALE_BUILD_ADAPTERS=OFF")
  endif()
  file(READ "${targets_files}" targets_text)
  if(targets_text MATCHES "INTERFACE_COMPILE_OPTIONS")
    message(FATAL_ERROR "the exported rlscale target carries compile options")
  endif()
  list(APPEND consumer_args -DRLSCALE_CONSUMER_MODE=find_package -DRLSCALE_CONSUMER_ADAPTERS=${adapters}
       -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
else()
  list(APPEND consumer_args -DRLSCALE_CONSUMER_MODE=fetchcontent
       -DRLSCALE_SOURCE_DIR=${RLSCALE_SOURCE_DIR})
endif()

run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/consumer-build ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
if(MODE STREQUAL "find_package" AND CMAKE_VERSION VERSION_LESS 4.0)
  # The package config under a caller's old policies (CMake 3.1's; CMake 4
  # refuses a project requiring less than 3.5).
  run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR}/old_policies -B ${WORK_DIR}/old-policies-build
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
      -Wno-deprecated)
endif()
if(MODE STREQUAL "find_package" AND adapters)
  run(${WORK_DIR}/consumer-build/adapter_consumer)
endif()
