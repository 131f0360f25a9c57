// The broker's HTTP client against a scripted origin on loopback: a call has one deadline,
// kept connections included, and a kept connection the origin closed meanwhile costs one more
// attempt on a new connection.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker_wiring.hpp"

namespace server {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// An HTTP origin that reads each request's head and answers "200 ok" when `answer(request)`
// says so (requests counted from 1 across connections), else stays silent on that connection;
// with `close_after_answer` it closes each connection right after its answer, although the
// answer says keep-alive. Runs its own thread.
class ScriptedOrigin {
 public:
  ScriptedOrigin(std::function<bool(int)> answer, bool close_after_answer,
                 const std::string& address = "127.0.0.1")
      : answer_(std::move(answer)), close_after_answer_(close_after_answer) {
    const auto ip = asio::ip::make_address(address);
    acceptor_.open(ip.is_v6() ? tcp::v6() : tcp::v4());
    acceptor_.bind({ip, 0});
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ScriptedOrigin() {
    io_.stop();
    thread_.join();
  }
  ScriptedOrigin(const ScriptedOrigin&) = delete;
  ScriptedOrigin& operator=(const ScriptedOrigin&) = delete;

  [[nodiscard]] std::string url(const std::string& path) const {
    const auto at = acceptor_.local_endpoint();
    const auto ip = at.address();
    const std::string host = ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string();
    return "http://" + host + ":" + std::to_string(at.port()) + path;
  }
  [[nodiscard]] int connections() const { return connections_.load(); }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(s);  // kept open until the origin goes
      serve(s, std::make_shared<asio::streambuf>());
      accept();
    });
  }

  void serve(const std::shared_ptr<tcp::socket>& s, const std::shared_ptr<asio::streambuf>& in) {
    asio::async_read_until(*s, *in, "\r\n\r\n", [this, s, in](boost::system::error_code ec,
                                                             std::size_t n) {
      if (ec) return;
      in->consume(n);
      if (!answer_(++requests_)) return;
      static const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      asio::async_write(*s, asio::buffer(kOk), [this, s, in](boost::system::error_code wec,
                                                            std::size_t) {
        if (wec) return;
        if (close_after_answer_) {
          boost::system::error_code ignored;
          s->shutdown(tcp::socket::shutdown_both, ignored);
          s->close(ignored);
          return;
        }
        serve(s, in);
      });
    });
  }

  std::function<bool(int)> answer_;
  bool close_after_answer_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

portability::HttpRequest get(const std::string& url) { return {"GET", url, {}, {}}; }

TEST(BeastHttpClientTest, AKeptConnectionThatGetsNoAnswerEndsAtTheOneDeadline) {
  // The first request is answered (its connection is kept), the second never is.
  ScriptedOrigin origin([](int request) { return request == 1; }, false);
  BeastHttpClient client;
  constexpr auto kTimeout = std::chrono::milliseconds(1000);
  EXPECT_EQ(client.send(get(origin.url("/a")), kTimeout, 1024).status, 200);

  const auto started = std::chrono::steady_clock::now();
  try {
    (void)client.send(get(origin.url("/b")), kTimeout, 1024);
    FAIL() << "an answer that never came";
  } catch (const portability::TransportError& e) {
    EXPECT_NE(std::string(e.what()).find("timeout"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, kTimeout);
  // Taken for a closed connection and sent again on a new one, it would take two deadlines.
  EXPECT_LT(took, 2 * kTimeout) << "one deadline per call, the kept connection's included";
  EXPECT_EQ(origin.connections(), 1);
  EXPECT_EQ(origin.requests(), 2);
}

TEST(BeastHttpClientTest, AKeptConnectionTheOriginClosedIsReplacedWithinTheCall) {
  ScriptedOrigin origin([](int) { return true; }, /*close_after_answer=*/true);
  BeastHttpClient client;
  constexpr auto kTimeout = std::chrono::milliseconds(5000);
  EXPECT_EQ(client.send(get(origin.url("/a")), kTimeout, 1024).status, 200);
  // The kept connection is closed at the origin's end: this call finds out and asks again on
  // a new connection, transparently.
  const auto second = client.send(get(origin.url("/b")), kTimeout, 1024);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(origin.connections(), 2);
}

// A host given by name is looked up, and the lookup counts against the call's one deadline: a
// name that does not resolve ends the call with a transport error well within it, whether the
// resolver says so at once or (a name server that does not answer) never.
TEST(BeastHttpClientTest, HostNamesAreLookedUpWithinTheDeadline) {
  ScriptedOrigin origin([](int) { return true; }, false);
  BeastHttpClient client;
  constexpr auto kTimeout = std::chrono::milliseconds(1000);
  auto by_name = origin.url("/a");
  by_name.replace(by_name.find("127.0.0.1"), 9, "localhost");
  const auto answer = client.send(get(by_name), kTimeout, 1024);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(origin.connections(), 1);

  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW((void)client.send(get("http://no-such-host.invalid/a"), kTimeout, 1024),
               portability::TransportError);
  EXPECT_LT(std::chrono::steady_clock::now() - started, kTimeout + std::chrono::milliseconds(500));
  // A port that is not a number is refused before any connection.
  EXPECT_THROW((void)client.send(get("http://127.0.0.1:99999/a"), kTimeout, 1024),
               portability::TransportError);
  EXPECT_EQ(origin.connections(), 1);
}

// A service addressed by an IPv6 literal ([::1]) is reached: the brackets belong to the URL,
// not to the address. (Skipped where the machine has no IPv6 loopback.)
TEST(BeastHttpClientTest, IPv6LiteralHostsAreReached) {
  {
    asio::io_context io;
    tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(tcp::v6(), ec);
    if (!ec) probe.bind({asio::ip::make_address("::1"), 0}, ec);
    if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  }
  ScriptedOrigin origin([](int) { return true; }, false, "::1");
  ASSERT_TRUE(origin.url("/a").starts_with("http://[::1]:")) << origin.url("/a");
  BeastHttpClient client;
  const auto answer = client.send(get(origin.url("/a")), std::chrono::milliseconds(5000), 1024);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "ok");
  EXPECT_EQ(origin.requests(), 1);
}

}  // namespace
}  // namespace server
