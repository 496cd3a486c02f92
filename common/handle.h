// Ownership of C library handles: one unique_ptr with a stateless deleter per handle type.
//
//   common::Handle<curl_slist, curl_slist_free_all> headers(curl_slist_append(nullptr, "A: b"));
//   common::Handle<VipsImage, g_object_unref> image(vips_image_new());
//
// The deleter names the library's own free function, so a handle costs one pointer and no
// close/unref pair is ever written by hand. A null handle is never passed to the free function
// (std::unique_ptr's rule). Like unique_ptr, a Handle is not shared between threads.
#pragma once

#include <memory>

namespace imgorigin::common {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};

template <typename T, auto Free>
using Handle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace imgorigin::common
