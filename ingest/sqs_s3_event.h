// S3 event notifications as they arrive in an SQS queue (DESIGN.md §6, "S3→SQS consumed
// directly"): the body of the SQS message is the S3 event document itself (S3→SQS, or
// S3→SNS→SQS with raw message delivery), or SNS's envelope around it (S3→SNS→SQS:
// {"Type": "Notification", "Message": "<the S3 event as a JSON string>", …}). This module only
// unwraps: the event's records are parsed by ingest/s3_event.h.
//
// S3 sends one s3:TestEvent ({"Service": "Amazon S3", "Event": "s3:TestEvent", …}) when a
// notification is configured; it is recognised so that the consumer can delete it quietly.
//
// Errors: kInvalidArgument for a body that is neither (not JSON, another service's event, an
// SNS envelope around something else): the consumer buries such messages. Pure functions; any
// thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace imgorigin::ingest {

struct S3EventMessage {
  enum class Kind {
    kEvent,      // {"Records": [{"eventSource": "aws:s3", …}, …]}
    kTestEvent,  // s3:TestEvent: nothing to do
  };
  Kind kind = Kind::kEvent;
  bool via_sns = false;    // it came in SNS's envelope
  std::string event_json;  // the S3 event document's JSON text, as S3 wrote it
};

common::Result<S3EventMessage> UnwrapS3EventMessage(std::string_view body);

}  // namespace imgorigin::ingest
