# The CUDA backend: built when the toolkit with cuBLAS and cuDNN is found (and LILNETX_CUDA is
# on). It compiles and links without a GPU; at run time a missing device is reported clearly.
set(LNX_HAVE_CUDA OFF)
if(LILNETX_CUDA AND EXISTS ${CMAKE_SOURCE_DIR}/cuda/cuda_backend.cpp)
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit QUIET)
    find_library(LNX_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64
                 /usr/lib/x86_64-linux-gnu)
    find_path(LNX_CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS}
              /usr/local/cuda/include /usr/include)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublas AND LNX_CUDNN_LIBRARY AND LNX_CUDNN_INCLUDE)
      set(LNX_HAVE_CUDA ON)
    else()
      message(STATUS "lilnetx: CUDA toolkit, cuBLAS or cuDNN not found; CUDA backend off")
    endif()
  else()
    message(STATUS "lilnetx: no CUDA compiler; CUDA backend off")
  endif()
endif()

if(LNX_HAVE_CUDA)
  # Hopper (sm_90) machine code plus PTX so newer GPUs can JIT it, unless the user chose;
  # enable_language would otherwise fill in nvcc's own default (sm_75 for CUDA 13).
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
  endif()
  enable_language(CUDA)
  # CMake 3.25 knows nvcc's C++20 flag only from 3.26 on; CUDA sources use C++20 like the rest
  # (CUDA_STANDARD follows CXX_STANDARD when unset).
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION -std=c++20)
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION -std=c++20)
  endif()
  file(GLOB LNX_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cuda/*.cpp
       ${CMAKE_SOURCE_DIR}/cuda/*.cu)
  target_sources(lilnetx PRIVATE ${LNX_CUDA_SOURCES})
  # lilnetx was created before CUDA was enabled, so the CMAKE_CUDA_* defaults never reached it.
  set_target_properties(lilnetx PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
                        CUDA_SEPARABLE_COMPILATION OFF)
  target_compile_definitions(lilnetx PUBLIC LNX_HAVE_CUDA)
  # cuda/check.h includes cudnn.h, and tests include cuda/check.h.
  target_include_directories(lilnetx PUBLIC ${LNX_CUDNN_INCLUDE})
  target_link_libraries(lilnetx PUBLIC CUDA::cudart CUDA::cublas ${LNX_CUDNN_LIBRARY})
  # Host flags of the top CMakeLists (-march=native, -Wall) are CXX-only; nvcc gets its own:
  # warnings for the host half of .cu files.
  target_compile_options(lilnetx PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>)
  message(STATUS "lilnetx: CUDA backend on (${CMAKE_CUDA_ARCHITECTURES})")
endif()
