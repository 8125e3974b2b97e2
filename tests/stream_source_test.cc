// StreamSource: the fd source returns what the pipe delivers, an empty chunk
// while the writer is idle (so the reader can look around), and the end once
// the writer closes; the string source hands out its data in chunks.

#include "re_dms/stream_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

TEST(FdStreamSourceTest, ReadsEverythingReportsIdleAndEnds) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::unique_ptr<StreamSource> source =
      MakeFdStreamSource(fds[0], "test pipe", 1000, absl::Milliseconds(10));
  std::string chunk = "stale";

  // Idle: nothing written yet.
  absl::StatusOr<bool> more = source->Read(&chunk);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_TRUE(*more);
  EXPECT_EQ(chunk, "");

  // 5000 bytes arrive in chunks of at most 1000, in order.
  std::string sent;
  for (int i = 0; i < 5000; ++i) sent.push_back(static_cast<char>('a' + i % 26));
  absl::Notification written;
  std::thread writer([&] {
    ASSERT_EQ(write(fds[1], sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
    written.Notify();
  });
  std::string received;
  while (received.size() < sent.size()) {
    more = source->Read(&chunk);
    ASSERT_TRUE(more.ok()) << more.status();
    ASSERT_TRUE(*more);
    EXPECT_LE(chunk.size(), 1000u);
    received += chunk;
  }
  writer.join();
  EXPECT_EQ(received, sent);

  close(fds[1]);
  more = source->Read(&chunk);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  close(fds[0]);
}

TEST(FdStreamSourceTest, ReadErrorsNameTheSource) {
  // A directory polls as readable, and read() fails with EISDIR.
  const int fd = open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  std::unique_ptr<StreamSource> source = MakeFdStreamSource(fd, "the root directory");
  std::string chunk;
  absl::StatusOr<bool> more = source->Read(&chunk);
  close(fd);
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("reading the root directory after 0 bytes"),
            std::string::npos)
      << more.status();
}

TEST(StringStreamSourceTest, ChunksThenEnd) {
  std::unique_ptr<StreamSource> source = MakeStringStreamSource("abcdefg", 3);
  std::string chunk;
  for (const char* want : {"abc", "def", "g"}) {
    absl::StatusOr<bool> more = source->Read(&chunk);
    ASSERT_TRUE(more.ok() && *more);
    EXPECT_EQ(chunk, want);
  }
  absl::StatusOr<bool> more = source->Read(&chunk);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

}  // namespace
}  // namespace re_dms
