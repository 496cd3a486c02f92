#include "sources/source.h"

namespace imgorigin::sources {

SourceImage TakeSourceImage(storage::HttpResponse&& response) {
  SourceImage image;
  image.last_modified = response.last_modified;
  if (response.file) {
    image.file = std::move(response.file);
  } else {
    image.bytes = common::MakeShared(std::move(response.body));
  }
  return image;
}

}  // namespace imgorigin::sources
