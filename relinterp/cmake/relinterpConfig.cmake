# relinterp's CMake package.  Find it with
#
#   cmake -Drelinterp_DIR="$(relinterp --cmakedir)" ...
#   find_package(relinterp 0.1 CONFIG REQUIRED)
#
# and patch an executable when it is installed (and, with BUILD_TREE, when it is built):
#
#   install(TARGETS app DESTINATION bin)
#   relinterp_patch(TARGET app LOADER_REL ../lib/ld-musl-x86_64.so.1
#                   [LOADER /abs/path ...] [FALLBACK_SYSTEM] [BUILD_TREE]
#                   [DESTINATION bin] [COMPONENT name])
#
# and make a release tree of the whole installed prefix when it is installed:
#
#   relinterp_bundle(OUTPUT dist [TAR dist.tar.gz] [LIB_DIR lib] [OPTIONS arg...]
#                    [COMPONENT name])
#
# Provides RELINTERP_EXECUTABLE (cache), relinterp_VERSION, relinterp_patch() and
# relinterp_bundle().  See docs/cmake.md.

if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "relinterp's CMake package needs CMake 3.19 or later (cmake_language(DEFER)); "
                      "this is ${CMAKE_VERSION}")
endif()

get_filename_component(_relinterp_cmake_dir "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
file(REAL_PATH "${_relinterp_cmake_dir}" _relinterp_cmake_dir)
set_property(GLOBAL PROPERTY RELINTERP_CMAKE_DIR "${_relinterp_cmake_dir}")

# The command installed with this package: the console script of the same Python
# installation (a virtual environment, ~/.local or /usr/local: <prefix>/bin beside
# <prefix>/lib/pythonX.Y/site-packages/relinterp/cmake), else the first one on PATH.
find_program(RELINTERP_EXECUTABLE relinterp
             HINTS "${_relinterp_cmake_dir}/../../../../../bin"
             DOC "The relinterp command relinterp_patch() runs")
if(NOT RELINTERP_EXECUTABLE)
  message(FATAL_ERROR "relinterp: no relinterp command beside ${_relinterp_cmake_dir} or on PATH: "
                      "set -DRELINTERP_EXECUTABLE=/path/to/relinterp")
endif()
# It must be the command of this very package, or the patch would not be the one asked for.
execute_process(COMMAND "${RELINTERP_EXECUTABLE}" --cmakedir
                OUTPUT_VARIABLE _relinterp_its_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE _relinterp_status ERROR_VARIABLE _relinterp_error)
if(NOT _relinterp_status EQUAL 0)
  message(FATAL_ERROR "relinterp: ${RELINTERP_EXECUTABLE} --cmakedir failed (${_relinterp_status}): "
                      "${_relinterp_error}")
endif()
file(REAL_PATH "${_relinterp_its_dir}" _relinterp_its_dir)
if(NOT _relinterp_its_dir STREQUAL _relinterp_cmake_dir)
  message(FATAL_ERROR "relinterp: ${RELINTERP_EXECUTABLE} belongs to another installation "
                      "(its --cmakedir is ${_relinterp_its_dir}, not ${_relinterp_cmake_dir}): "
                      "set -DRELINTERP_EXECUTABLE to the relinterp of the same installation")
endif()
unset(_relinterp_its_dir)
unset(_relinterp_status)
unset(_relinterp_error)

# relinterp_patch(TARGET t [LOADER_REL rel...] [LOADER abs...] [FALLBACK_SYSTEM] [BUILD_TREE]
#                 [DESTINATION dir] [COMPONENT name])
#
# Patches the installed file of executable target t at `cmake --install` time, after
# CMake has copied it and rewritten its RPATH (a patch made before that rewrite would be
# checked against a file CMake then changes).  The install rule is added at the end of
# the calling directory's CMakeLists.txt, so it runs after every install() of that
# directory whatever the order of the calls: call it where the target is installed.
# DESTINATION is where install(TARGETS) puts t (default: CMAKE_INSTALL_BINDIR, else bin).
# BUILD_TREE also patches the build-tree file after each link (POST_BUILD).
function(relinterp_patch)
  cmake_parse_arguments(PARSE_ARGV 0 arg "FALLBACK_SYSTEM;BUILD_TREE" "TARGET;DESTINATION;COMPONENT"
                        "LOADER_REL;LOADER")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relinterp_patch: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_TARGET)
    message(FATAL_ERROR "relinterp_patch: TARGET is required")
  endif()
  if(NOT TARGET "${arg_TARGET}")
    message(FATAL_ERROR "relinterp_patch: ${arg_TARGET} is not a target")
  endif()
  get_target_property(type "${arg_TARGET}" TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    message(FATAL_ERROR "relinterp_patch: ${arg_TARGET} is a ${type}; only executables are patched")
  endif()
  set(options)
  foreach(rel IN LISTS arg_LOADER_REL)
    list(APPEND options --loader-rel "${rel}")
  endforeach()
  foreach(abs IN LISTS arg_LOADER)
    list(APPEND options --loader "${abs}")
  endforeach()
  if(arg_FALLBACK_SYSTEM)
    list(APPEND options --fallback-system)
  endif()
  if(NOT DEFINED arg_DESTINATION)
    if(DEFINED CMAKE_INSTALL_BINDIR)
      set(arg_DESTINATION "${CMAKE_INSTALL_BINDIR}")
    else()
      set(arg_DESTINATION bin)
    endif()
  endif()
  if(arg_BUILD_TREE)
    add_custom_command(TARGET "${arg_TARGET}" POST_BUILD
                       COMMAND "${RELINTERP_EXECUTABLE}" patch "$<TARGET_FILE:${arg_TARGET}>" ${options}
                       COMMENT "relinterp: patching ${arg_TARGET}"
                       VERBATIM)
  endif()
  set_target_properties("${arg_TARGET}" PROPERTIES
                        RELINTERP_OPTIONS "${options}"
                        RELINTERP_DESTINATION "${arg_DESTINATION}"
                        RELINTERP_COMPONENT "${arg_COMPONENT}")
  cmake_language(EVAL CODE "cmake_language(DEFER CALL _relinterp_install_patch [==[${arg_TARGET}]==])")
endfunction()

# Adds the install-time patch of `target`: run at the end of the directory that called
# relinterp_patch(), after its install() rules.
function(_relinterp_install_patch target)
  get_property(cmake_dir GLOBAL PROPERTY RELINTERP_CMAKE_DIR)
  get_target_property(options "${target}" RELINTERP_OPTIONS)
  get_target_property(destination "${target}" RELINTERP_DESTINATION)
  get_target_property(component "${target}" RELINTERP_COMPONENT)
  set(quoted)
  foreach(option IN LISTS options)
    string(APPEND quoted " [==[${option}]==]")
  endforeach()
  set(code "set(_relinterp_executable [==[${RELINTERP_EXECUTABLE}]==])
set(_relinterp_destination [==[${destination}]==])
set(_relinterp_file_name [==[$<TARGET_FILE_NAME:${target}>]==])
set(_relinterp_options${quoted})
include([==[${cmake_dir}/relinterpInstallPatch.cmake]==])")
  if(component)
    install(CODE "${code}" COMPONENT "${component}")
  else()
    install(CODE "${code}")
  endif()
endfunction()

# relinterp_bundle(OUTPUT dir [TAR file] [LIB_DIR dir] [OPTIONS arg...] [COMPONENT name])
#
# At `cmake --install` time, after every install() rule of the project, runs
# `relinterp bundle PREFIX -o OUTPUT`: the installed prefix ($DESTDIR and the install
# prefix) becomes the release tree OUTPUT, every program patched to find the shipped
# loader relative to itself.  A relative OUTPUT or TAR is relative to the top build
# directory; an absolute one gets $DESTDIR in front, as install() destinations do.
# OPTIONS are more `relinterp bundle` arguments (--include, --exclude, --library-path,
# --no-glibc-by-name, ...).
function(relinterp_bundle)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUTPUT;TAR;LIB_DIR;COMPONENT" "OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relinterp_bundle: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_OUTPUT)
    message(FATAL_ERROR "relinterp_bundle: OUTPUT is required (the release tree to make)")
  endif()
  # Subdirectories' install rules must run where add_subdirectory() is called, not after
  # the top directory's own rules (CMP0082, NEW from cmake_minimum_required(VERSION 3.14)).
  cmake_policy(GET CMP0082 subdirectory_order)
  if(NOT subdirectory_order STREQUAL "NEW")
    message(FATAL_ERROR "relinterp_bundle: needs policy CMP0082 NEW (cmake_minimum_required(VERSION 3.14) "
                        "or later), or subdirectories would install after the bundle is made")
  endif()
  get_property(called GLOBAL PROPERTY RELINTERP_BUNDLE_CODE SET)
  if(called)
    message(FATAL_ERROR "relinterp_bundle: called twice; an installed prefix makes one release tree")
  endif()
  set(options ${arg_OPTIONS})
  if(arg_LIB_DIR)
    list(APPEND options --lib-dir "${arg_LIB_DIR}")
  endif()
  foreach(value IN ITEMS OUTPUT TAR)
    # Relative: in the build tree.  Absolute: under $DESTDIR at install time, as install() puts files.
    set(${value}_destdir FALSE)
    if(arg_${value} AND IS_ABSOLUTE "${arg_${value}}")
      set(${value}_destdir TRUE)
    elseif(arg_${value})
      set(arg_${value} "${CMAKE_BINARY_DIR}/${arg_${value}}")
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY RELINTERP_BUNDLE_CODE "set(_relinterp_output [==[${arg_OUTPUT}]==])
set(_relinterp_output_destdir ${OUTPUT_destdir})
set(_relinterp_tar [==[${arg_TAR}]==])
set(_relinterp_tar_destdir ${TAR_destdir})")
  set_property(GLOBAL PROPERTY RELINTERP_BUNDLE_COMPONENT "${arg_COMPONENT}")
  set_property(GLOBAL PROPERTY RELINTERP_BUNDLE_OPTIONS "${options}")
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _relinterp_install_bundle)
endfunction()

# Adds the install-time bundle step: run at the end of the top directory, after every
# install() rule (those of subdirectories included) has been added.
function(_relinterp_install_bundle)
  foreach(name IN ITEMS CMAKE_DIR BUNDLE_CODE BUNDLE_COMPONENT BUNDLE_OPTIONS)
    get_property(${name} GLOBAL PROPERTY RELINTERP_${name})
  endforeach()
  set(quoted)
  foreach(option IN LISTS BUNDLE_OPTIONS)
    string(APPEND quoted " [==[${option}]==]")
  endforeach()
  set(code "set(_relinterp_executable [==[${RELINTERP_EXECUTABLE}]==])
${BUNDLE_CODE}
set(_relinterp_options${quoted})
include([==[${CMAKE_DIR}/relinterpInstallBundle.cmake]==])")
  if(BUNDLE_COMPONENT)
    install(CODE "${code}" COMPONENT "${BUNDLE_COMPONENT}")
  else()
    install(CODE "${code}")
  endif()
endfunction()

unset(_relinterp_cmake_dir)
