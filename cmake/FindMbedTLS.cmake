# Find mbedTLS 2.28 (Debian ships no pkg-config file for it).
# Provides MbedTLS::mbedcrypto, MbedTLS::mbedx509, MbedTLS::mbedtls.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/version.h)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDTLS_LIBRARY mbedtls)
if(MBEDTLS_INCLUDE_DIR AND EXISTS "${MBEDTLS_INCLUDE_DIR}/mbedtls/version.h")
  file(STRINGS "${MBEDTLS_INCLUDE_DIR}/mbedtls/version.h" _mbed_ver
       REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"[0-9.]+\"")
  string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" MbedTLS_VERSION "${_mbed_ver}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS
  REQUIRED_VARS MBEDTLS_INCLUDE_DIR MBEDCRYPTO_LIBRARY MBEDX509_LIBRARY MBEDTLS_LIBRARY
  VERSION_VAR MbedTLS_VERSION)
if(MbedTLS_FOUND)
  foreach(_c mbedcrypto mbedx509 mbedtls)
    string(TOUPPER ${_c} _C)
    if(NOT TARGET MbedTLS::${_c})
      add_library(MbedTLS::${_c} UNKNOWN IMPORTED)
      set_target_properties(MbedTLS::${_c} PROPERTIES
        IMPORTED_LOCATION "${${_C}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
    endif()
  endforeach()
  set_property(TARGET MbedTLS::mbedx509 PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
  set_property(TARGET MbedTLS::mbedtls PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()
mark_as_advanced(MBEDTLS_INCLUDE_DIR MBEDCRYPTO_LIBRARY MBEDX509_LIBRARY MBEDTLS_LIBRARY)
