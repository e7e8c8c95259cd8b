#include "io/regular_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ghost::io {
namespace {

namespace fs = std::filesystem;

class RegularFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("ghost-regular-file-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const char* name) const { return (dir_ / name).string(); }
    /// The error for `name`, which must not be readable.
    std::string refusal(const char* name, size_t max = 1 << 20) const {
        std::string why;
        auto text = read_regular_file(path(name), max, &why);
        EXPECT_FALSE(text) << name;
        return why;
    }

    fs::path dir_;
};

TEST_F(RegularFile, ReadsARegularFileAndALinkToOne) {
    std::ofstream(path("a.json")) << "{\"x\": 1}";
    fs::create_symlink("a.json", path("link.json"));
    std::string why;
    EXPECT_EQ(read_regular_file(path("a.json"), 8, &why), "{\"x\": 1}");  // exactly the limit
    EXPECT_EQ(read_regular_file(path("link.json"), 100, &why), "{\"x\": 1}");
    std::ofstream(path("empty.json")).flush();
    EXPECT_EQ(read_regular_file(path("empty.json"), 100, &why), "");
    EXPECT_TRUE(why.empty()) << why;
}

TEST_F(RegularFile, FifoIsRefusedWithoutBlocking) {
    ASSERT_EQ(::mkfifo(path("fifo.json").c_str(), 0600), 0);
    EXPECT_EQ(refusal("fifo.json"), "not a regular file: it is a FIFO (named pipe)");
}

TEST_F(RegularFile, DirectoryAndDevicesAreRefused) {
    fs::create_directory(path("dir.json"));
    EXPECT_EQ(refusal("dir.json"), "not a regular file: it is a directory");
    fs::create_symlink("/dev/zero", path("zero.json"));
    EXPECT_EQ(refusal("zero.json"), "not a regular file: it is a character device");
}

TEST_F(RegularFile, BrokenLinksSayWhatIsWrong) {
    fs::create_symlink("nowhere.json", path("dangling.json"));
    EXPECT_EQ(refusal("dangling.json"),
              "cannot read file: dangling symbolic link (its target does not exist)");
    fs::create_symlink("loop-b.json", path("loop-a.json"));
    fs::create_symlink("loop-a.json", path("loop-b.json"));
    EXPECT_EQ(refusal("loop-a.json"),
              "cannot read file: symbolic link loop (Too many levels of symbolic links)");
    EXPECT_EQ(refusal("missing.json"), "cannot read file: No such file or directory");
}

TEST_F(RegularFile, LargerThanTheLimitIsRefused) {
    std::ofstream(path("big.json")) << std::string(2 << 20, ' ');
    EXPECT_EQ(refusal("big.json"), "file too large (limit 1048576 bytes)");
    std::ofstream(path("nine.json")) << "123456789";
    EXPECT_EQ(refusal("nine.json", 8), "file too large (limit 8 bytes)");
}

TEST_F(RegularFile, FilesWhoseSizeIsUnknownAreStillBounded) {
    std::string why;
    auto status = read_regular_file("/proc/self/status", 1 << 20, &why);  // st_size is 0
    ASSERT_TRUE(status) << why;
    EXPECT_NE(status->find("Pid:"), std::string::npos);
    EXPECT_FALSE(read_regular_file("/proc/self/status", 16, &why));
    EXPECT_EQ(why, "file too large (limit 16 bytes)");
}

}  // namespace
}  // namespace ghost::io
