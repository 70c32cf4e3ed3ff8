# Find yajl 2.x. Provides YAJL::yajl.
# pkg-config (when present) only supplies hints, so this module also works
# inside afsConfig.cmake on a consumer machine without pkg-config.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_YAJL QUIET yajl)
endif()
find_path(YAJL_INCLUDE_DIR yajl/yajl_version.h HINTS ${PC_YAJL_INCLUDE_DIRS})
find_library(YAJL_LIBRARY yajl HINTS ${PC_YAJL_LIBRARY_DIRS})
if(YAJL_INCLUDE_DIR AND EXISTS "${YAJL_INCLUDE_DIR}/yajl/yajl_version.h")
  file(STRINGS "${YAJL_INCLUDE_DIR}/yajl/yajl_version.h" _yajl_ver
       REGEX "^#define[ \t]+YAJL_(MAJOR|MINOR|MICRO)[ \t]+[0-9]+")
  foreach(_p MAJOR MINOR MICRO)
    string(REGEX REPLACE ".*YAJL_${_p}[ \t]+([0-9]+).*" "\\1" _yajl_${_p} "${_yajl_ver}")
  endforeach()
  set(YAJL_VERSION "${_yajl_MAJOR}.${_yajl_MINOR}.${_yajl_MICRO}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(YAJL REQUIRED_VARS YAJL_INCLUDE_DIR YAJL_LIBRARY
                                  VERSION_VAR YAJL_VERSION)
if(YAJL_FOUND AND NOT TARGET YAJL::yajl)
  add_library(YAJL::yajl UNKNOWN IMPORTED)
  set_target_properties(YAJL::yajl PROPERTIES IMPORTED_LOCATION "${YAJL_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${YAJL_INCLUDE_DIR}")
endif()
mark_as_advanced(YAJL_INCLUDE_DIR YAJL_LIBRARY)
