# emu_lib.cmake (CUDA emulator, tests/cuemu) — NPG_CUDA=EMU: the CUDA
# backend's sources built into libnpg for the CPU. rewrite.py turns every
# src/cuda file's launches into emulator calls; the generated emu_*.cpp, the
# emulator's runtime (emu_rt.cpp: blocks as fibers, memory, streams, errors)
# and its cuBLAS / cuSOLVER stand-ins (emu_cublas.cpp, emu_cusolver.cpp) are
# compiled as C++20 by the host compiler. The C sources see NPG_HAVE_CUDA=1
# and register the backend as "cuda".
# Sets NPG_EMU_SRC; npg_emu_configure(target) adds the flags.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
enable_language(CXX)
file(GLOB NPG_EMU_CU CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda
  ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/*.cu ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/*.cuh)
set(NPG_EMU_GEN ${CMAKE_CURRENT_BINARY_DIR}/cuemu_gen)
include(${CMAKE_CURRENT_SOURCE_DIR}/tests/cuemu/rewrite.cmake)
npg_emu_rewrite(${NPG_EMU_GEN} NPG_EMU_OUT ${NPG_EMU_CU})
set(NPG_EMU_SRC ${NPG_EMU_OUT} ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuemu/emu_rt.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuemu/emu_cublas.cpp ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuemu/emu_cusolver.cpp)
# cuRAND's own Philox rounds when the CUDA toolkit's headers are here
find_path(NPG_EMU_CURAND_DIR curand_philox4x32_x.h HINTS /usr/local/cuda/include ${CUDAToolkit_INCLUDE_DIRS})
if(NPG_EMU_CURAND_DIR AND EXISTS ${NPG_EMU_CURAND_DIR}/nv/target)
  message(STATUS "npg: CUDA emulator: cuRAND Philox rounds from ${NPG_EMU_CURAND_DIR}")
else()
  set(NPG_EMU_CURAND_DIR "")
  message(STATUS "npg: CUDA emulator: no CUDA toolkit headers; Philox rounds from tests/cuemu/include/curand_kernel.h")
endif()

function(npg_emu_configure tgt)
  target_compile_definitions(${tgt} PRIVATE NPG_HAVE_CUDA=1)
  # -O1 without debug info: the elementwise instantiations are large
  # no -ffp-contract=fast: nvcc contracts a*b+c into FMAs (-fmad=true) and
  # this build does not, so contraction effects are not emulated
  target_compile_options(${tgt} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-O1 -g0 -w -fno-math-errno>)
  target_include_directories(${tgt} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${CMAKE_CURRENT_SOURCE_DIR}/tests/cuemu/include
    ${NPG_EMU_GEN}>)
  set_target_properties(${tgt} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  if(NPG_EMU_CURAND_DIR)
    target_compile_definitions(${tgt} PRIVATE "NPG_EMU_PHILOX_HEADER=\"curand_philox4x32_x.h\"")
    target_compile_options(${tgt} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-idirafter> $<$<COMPILE_LANGUAGE:CXX>:${NPG_EMU_CURAND_DIR}>)
  endif()
endfunction()
