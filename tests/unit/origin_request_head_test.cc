#include <gtest/gtest.h>

#include <string>

#include "origin/request_head.h"

namespace imgorigin::origin {
namespace {

constexpr size_t kMax = 16 << 10;

size_t Read(const std::string& bytes, RequestHead& head, size_t max = kMax) {
  return ReadRequestHead(bytes, max, head);
}

bool Taken(const std::string& bytes) {
  RequestHead head;
  return Read(bytes, head) != 0;
}

TEST(RequestHead, ReadsAPlainGetWithItsHeaders) {
  const std::string request =
      "GET /sig/rs:fit:300/plain/local:///a.jpg?x=1 HTTP/1.1\r\n"
      "Host: img.example.com\r\n"
      "Accept:image/avif,image/webp,*/*  \r\n"
      "If-None-Match: \t\"abc\"\r\n"
      "X-Empty:\r\n"
      "Connection: Keep-Alive\r\n"
      "\r\n";
  RequestHead head;
  ASSERT_EQ(Read(request + "GET /next HTTP/1.1\r\n", head), request.size());
  EXPECT_EQ(head.method, EVHTTP_REQ_GET);
  EXPECT_STREQ(head.target, "/sig/rs:fit:300/plain/local:///a.jpg?x=1");
  ASSERT_EQ(head.headers.size(), 5u);
  EXPECT_STREQ(head.Find("host"), "img.example.com");
  EXPECT_STREQ(head.Find("ACCEPT"), "image/avif,image/webp,*/*");
  EXPECT_STREQ(head.Find("If-None-Match"), "\"abc\"");
  EXPECT_STREQ(head.Find("X-Empty"), "");
  EXPECT_EQ(head.Find("Referer"), nullptr);
}

TEST(RequestHead, ReadsHeadAndNoHeadersAtAll) {
  RequestHead head;
  ASSERT_EQ(Read("HEAD / HTTP/1.1\r\n\r\n", head), 19u);
  EXPECT_EQ(head.method, EVHTTP_REQ_HEAD);
  EXPECT_STREQ(head.target, "/");
  EXPECT_TRUE(head.headers.empty());
}

TEST(RequestHead, TheFirstOfARepeatedHeaderIsFound) {
  RequestHead head;
  ASSERT_NE(Read("GET / HTTP/1.1\r\nAccept: a\r\naccept: b\r\n\r\n", head), 0u);
  EXPECT_STREQ(head.Find("Accept"), "a");
}

TEST(RequestHead, AnIncompleteOrOversizedHeadIsNotTaken) {
  EXPECT_FALSE(Taken(""));
  EXPECT_FALSE(Taken("GET / HTTP/1.1\r\nHost: a\r\n"));
  EXPECT_FALSE(Taken("GET / HTTP/1.1\r\nHost: a\r\n\r"));
  RequestHead head;
  const std::string request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(Read(request, head, request.size() - 1), 0u);
  EXPECT_EQ(Read(request, head, request.size()), request.size());
}

TEST(RequestHead, OtherMethodsVersionsAndTargetsGoToEvhttp) {
  for (const char* request : {
           "POST / HTTP/1.1\r\n\r\n",
           "get / HTTP/1.1\r\n\r\n",
           "OPTIONS * HTTP/1.1\r\n\r\n",
           "GET  / HTTP/1.1\r\n\r\n",
           "GET http://a/ HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.0\r\n\r\n",
           "GET / HTTP/1.1 \r\n\r\n",
           "GET / HTTP/2\r\n\r\n",
           "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
           "GET /a\tb HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\n\r\n",
           "GET /\r\n\r\n",
       }) {
    EXPECT_FALSE(Taken(request)) << request;
  }
}

TEST(RequestHead, BodiesAndConnectionOptionsGoToEvhttp) {
  for (const char* header : {
           "Content-Length: 0",
           "content-length: 5",
           "Transfer-Encoding: chunked",
           "Expect: 100-continue",
           "Upgrade: websocket",
           "Connection: close",
           "Connection: keep-alive, Upgrade",
           "Connection: TE",
       }) {
    EXPECT_FALSE(Taken(std::string("GET / HTTP/1.1\r\n") + header + "\r\n\r\n")) << header;
  }
  EXPECT_FALSE(Taken("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
  EXPECT_TRUE(Taken("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(RequestHead, MalformedHeaderLinesGoToEvhttp) {
  for (const char* line : {
           "Bad Name: x",     // not a token
           ": x",             // no name
           "NoColon",         // no colon
           " Folded: x",      // obs-fold
           "X-A: a\rb",       // bare CR
           "X-A: a\nX-B: b",  // bare LF
           "X-A: \x01",       // control character
           "X-A: a\x7f",      // DEL
           "X-A : a",         // space before the colon
       }) {
    EXPECT_FALSE(Taken(std::string("GET / HTTP/1.1\r\n") + line + "\r\n\r\n")) << line;
  }
  EXPECT_FALSE(Taken(std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 28)));
  EXPECT_TRUE(Taken("GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n"));  // obs-text
}

}  // namespace
}  // namespace imgorigin::origin
