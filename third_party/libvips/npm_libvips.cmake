# The prebuilt libvips from npm (sharp's build), as the same PkgConfig::VIPS target that
# pkg_check_modules(VIPS … vips-cpp) gives for the system libvips, so nothing else changes.
#
# @img/sharp-libvips-linux-x64 ships one shared library, libvips-cpp.so.<version>, holding libvips,
# its codecs and glib statically, and exporting the libvips C API, glib/gobject and the C++ API
# (vips::VImage …), which is how sharp links it on Linux. @img/sharp-libvips-dev ships the headers
# (plus the C++ binding sources, which sharp compiles only on Windows; not needed here).
set(IMGORIGIN_LIBVIPS_NPM_DIR "${PROJECT_SOURCE_DIR}/third_party/libvips/node_modules/@img"
    CACHE PATH "Where npm installed @img/sharp-libvips-linux-x64 and @img/sharp-libvips-dev")
set(_npm_lib_dir "${IMGORIGIN_LIBVIPS_NPM_DIR}/sharp-libvips-linux-x64/lib")
set(_npm_inc_dir "${IMGORIGIN_LIBVIPS_NPM_DIR}/sharp-libvips-dev/include")
file(GLOB _npm_vips_so "${_npm_lib_dir}/libvips-cpp.so.*")
if(NOT _npm_vips_so OR NOT EXISTS "${_npm_inc_dir}/vips/vips8")
  message(FATAL_ERROR "IMGORIGIN_LIBVIPS=npm: no prebuilt libvips under ${IMGORIGIN_LIBVIPS_NPM_DIR}; "
                      "run ./scripts/setup (npm install in third_party/libvips)")
endif()
list(GET _npm_vips_so 0 _npm_vips_so)
get_filename_component(_npm_vips_soname "${_npm_vips_so}" NAME)
string(REGEX REPLACE "^libvips-cpp\\.so\\." "" VIPS_VERSION "${_npm_vips_soname}")
message(STATUS "libvips ${VIPS_VERSION} from npm: ${_npm_vips_so}")

add_library(PkgConfig::VIPS SHARED IMPORTED)
set_target_properties(PkgConfig::VIPS PROPERTIES
  IMPORTED_LOCATION "${_npm_vips_so}"
  IMPORTED_SONAME "${_npm_vips_soname}"
  INTERFACE_INCLUDE_DIRECTORIES
    "${_npm_inc_dir};${_npm_inc_dir}/glib-2.0;${_npm_lib_dir}/glib-2.0/include")
# System headers for the compiler: their warnings are not ours to fix under -Werror.
set_property(TARGET PkgConfig::VIPS PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
  "${_npm_inc_dir};${_npm_inc_dir}/glib-2.0;${_npm_lib_dir}/glib-2.0/include")
