# rewrite.cmake (CUDA emulator, tests/cuemu) — npg_emu_rewrite(GEN OUT_VAR
# FILE...): a build step that runs rewrite.py over src/cuda/FILE... into the
# folder GEN; OUT_VAR gets the generated emu_NAME.cpp of each .cu FILE (the
# .cuh copies are generated next to them, for their #includes).
function(npg_emu_rewrite gen out_var)
  set(in "")
  set(out "")
  foreach(f ${ARGN})
    list(APPEND in ${npg_SOURCE_DIR}/src/cuda/${f})
    list(APPEND out ${gen}/${f})
    if(f MATCHES "\\.cu$")
      string(REGEX REPLACE "\\.cu$" "" base ${f})
      list(APPEND out ${gen}/emu_${base}.cpp)
    endif()
  endforeach()
  add_custom_command(OUTPUT ${out}
    COMMAND ${Python3_EXECUTABLE} ${npg_SOURCE_DIR}/tests/cuemu/rewrite.py ${npg_SOURCE_DIR}/src/cuda ${gen} ${ARGN}
    DEPENDS ${in} ${npg_SOURCE_DIR}/tests/cuemu/rewrite.py
    COMMENT "cuemu: rewriting the kernel launches of src/cuda for the CPU emulator" VERBATIM)
  list(FILTER out INCLUDE REGEX "\\.cpp$")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
