# The version of the relinterp package this directory belongs to, for
# find_package(relinterp <version> CONFIG).  Read from the package itself, the one place
# the version is written.  Before 1.0 a release is compatible with requests for its own
# major.minor (minor releases may still change the interface); from 1.0, its own major.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../__init__.py" _relinterp_line
     REGEX "^__version__ = \"[^\"]+\"$" LIMIT_COUNT 1)
string(REGEX REPLACE "^__version__ = \"([^\"]+)\"$" "\\1" PACKAGE_VERSION "${_relinterp_line}")
string(REGEX MATCH "^[0-9]+" _relinterp_major "${PACKAGE_VERSION}")
string(REGEX MATCH "^[0-9]+\\.[0-9]+" _relinterp_minor "${PACKAGE_VERSION}")

set(PACKAGE_VERSION_EXACT FALSE)
if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(_relinterp_major EQUAL 0)
  if(_relinterp_minor STREQUAL "${PACKAGE_FIND_VERSION_MAJOR}.${PACKAGE_FIND_VERSION_MINOR}")
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
elseif(_relinterp_major EQUAL PACKAGE_FIND_VERSION_MAJOR)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
if(PACKAGE_FIND_VERSION AND PACKAGE_VERSION VERSION_EQUAL PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
unset(_relinterp_line)
unset(_relinterp_major)
unset(_relinterp_minor)
