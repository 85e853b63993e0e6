# libFuzzer targets (tools/fuzz/), clang only:
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DLILNETX_FUZZ=ON \
#         -DLILNETX_CUDA=OFF -DLILNETX_TESTS=OFF
#   ninja -C build-fuzz fuzz_lnx fuzz_lnx_seed
#   ./build-fuzz/fuzz_lnx_seed corpus && ./build-fuzz/fuzz_lnx corpus -max_total_time=300
# The whole library is instrumented (coverage + AddressSanitizer + UBSan), so the fuzzer sees
# into the parsers and catches any out-of-bounds read. The normal build never needs clang.
option(LILNETX_FUZZ "Build the libFuzzer targets of tools/fuzz (clang only)" OFF)

if(LILNETX_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LILNETX_FUZZ needs clang (libFuzzer); configure with "
                        "-DCMAKE_CXX_COMPILER=clang++")
  endif()
  set(LNX_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                     -fno-omit-frame-pointer -g)
  foreach(target IN ITEMS lilnetx lilnetx_tools)
    target_compile_options(${target} PUBLIC ${LNX_FUZZ_FLAGS})
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endforeach()
  add_executable(fuzz_lnx ${CMAKE_SOURCE_DIR}/tools/fuzz/fuzz_lnx.cpp)
  target_link_libraries(fuzz_lnx PRIVATE lilnetx_tools)
  target_link_options(fuzz_lnx PRIVATE -fsanitize=fuzzer)
  add_executable(fuzz_lnx_seed ${CMAKE_SOURCE_DIR}/tools/fuzz/make_seed.cpp)
  target_link_libraries(fuzz_lnx_seed PRIVATE lilnetx_tools)
endif()
