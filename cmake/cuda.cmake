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
  enable_language(CUDA)
  # Hopper (sm_90) machine code plus PTX so newer GPUs can JIT it.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
    set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  file(GLOB LNX_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cuda/*.cpp
       ${CMAKE_SOURCE_DIR}/cuda/*.cu)
  target_sources(lilnetx PRIVATE ${LNX_CUDA_SOURCES})
  target_compile_definitions(lilnetx PUBLIC LNX_HAVE_CUDA)
  target_include_directories(lilnetx PRIVATE ${LNX_CUDNN_INCLUDE})
  target_link_libraries(lilnetx PUBLIC CUDA::cudart CUDA::cublas ${LNX_CUDNN_LIBRARY})
  # Host flags (-march=native, -Wall) must not reach nvcc as-is.
  set_property(TARGET lilnetx PROPERTY CUDA_SEPARABLE_COMPILATION OFF)
  message(STATUS "lilnetx: CUDA backend on (${CMAKE_CUDA_ARCHITECTURES})")
endif()
