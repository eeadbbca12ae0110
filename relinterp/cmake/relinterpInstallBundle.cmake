# Run by `cmake --install` (see relinterp_bundle() in relinterpConfig.cmake): makes the
# release tree _relinterp_output of the installed prefix.
set(_relinterp_stage "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
if(_relinterp_output_destdir)
  set(_relinterp_output "$ENV{DESTDIR}${_relinterp_output}")
endif()
set(_relinterp_args "${_relinterp_stage}" -o "${_relinterp_output}")
if(_relinterp_tar)
  if(_relinterp_tar_destdir)
    set(_relinterp_tar "$ENV{DESTDIR}${_relinterp_tar}")
  endif()
  list(APPEND _relinterp_args --tar "${_relinterp_tar}")
endif()
message(STATUS "relinterp: bundling ${_relinterp_stage} into ${_relinterp_output}")
execute_process(COMMAND "${_relinterp_executable}" bundle ${_relinterp_args} ${_relinterp_options}
                RESULT_VARIABLE _relinterp_status)
if(NOT _relinterp_status EQUAL 0)
  message(FATAL_ERROR "relinterp_bundle: relinterp bundle ${_relinterp_stage} -o ${_relinterp_output} failed "
                      "(exit status ${_relinterp_status})")
endif()
