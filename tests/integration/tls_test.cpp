// SPDX-License-Identifier: Apache-2.0
// TLS to the broker (issue #7): mosquitto gets a second listener with TLS 1.2+, a server
// certificate for 127.0.0.1 only, require_certificate and an ACL that limits each client
// certificate (its CN is the MQTT user) to its own topic tree. Every certificate is made at
// test time with the openssl command line. The test's own subscriber uses the plain listener.
//   - the daemon connects with mutual TLS, publishes its windows, its password comes from a file;
//   - its credentials cannot publish outside its own tree (the ACL);
//   - a server certificate from another CA is refused, and so is a host name the certificate
//     does not carry (accepted again only with verify_hostname false).
#include <catch2/catch.hpp>
#include <fstream>

#include "demo_rig.hpp"
#include "net.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

/// Runs openssl; fails the test with its output when it fails.
void openssl(const std::vector<std::string>& args, const std::filesystem::path& dir) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_command(argv, dir);
    INFO("openssl " << args.front() << ": " << r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
}

/// A CA, and certificates it signs; EC keys (fast to make).
struct TestPki {
    std::filesystem::path dir;

    void make_ca(const std::string& name) {
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-days",
                 "2", "-subj", "/CN=" + name},
                dir);
    }
    /// name.key + name.pem, signed by `ca`, with the given subjectAltName (may be empty).
    void make_cert(const std::string& name, const std::string& ca, const std::string& cn,
                   const std::string& san) {
        openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn},
                dir);
        std::ofstream(dir / (name + ".ext")) << (san.empty() ? "" : "subjectAltName=" + san + "\n");
        openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey",
                 path(ca + ".key"), "-CAcreateserial", "-out", path(name + ".pem"), "-days", "2",
                 "-extfile", path(name + ".ext")},
                dir);
    }
    std::string path(const std::string& file) const { return (dir / file).string(); }
};

struct TlsRig {
    TempDir pki_dir{"towngw-pki-"};
    TestPki pki{pki_dir.path()};
    std::uint16_t tls_port = free_tcp_port();
    std::string gateway_id;
    std::unique_ptr<DemoRig> rig;

    explicit TlsRig(const std::string& tag) : gateway_id(unique_gateway_id(tag)) {
        pki.make_ca("ca");
        pki.make_ca("other-ca");
        // The broker's certificate names 127.0.0.1 only: "localhost" is a wrong host name.
        pki.make_cert("server", "ca", "towngw test broker", "IP:127.0.0.1");
        pki.make_cert("client", "ca", gateway_id, "");
        std::ofstream(pki_dir.path() / "acl")
            << "# anonymous (the test's subscriber on the plain listener): read everything\n"
            << "topic read #\n"
            << "user " << gateway_id << "\n"
            << "topic readwrite " << kTopicPrefix << "/" << kTownId << "/" << gateway_id << "/#\n";
        std::ofstream(pki_dir.path() / "mqtt.pass") << "s3cret-from-a-file\n";
        RigOptions options;
        options.broker_config = {"max_queued_messages 0",
                                 "acl_file " + pki.path("acl"),
                                 "listener " + std::to_string(tls_port) + " 127.0.0.1",
                                 "cafile " + pki.path("ca.pem"),
                                 "certfile " + pki.path("server.pem"),
                                 "keyfile " + pki.path("server.key"),
                                 "require_certificate true",
                                 "use_identity_as_username true",
                                 "tls_version tlsv1.2"};
        rig = std::make_unique<DemoRig>(tag, options);
        REQUIRE(rig->gateway_id() == gateway_id);
    }

    /// Overrides for a TLS connection to `host` with the given CA.
    std::vector<Override> tls(const std::string& host, const std::string& ca,
                              bool verify_hostname = true) const {
        json t = {{"ca_file", pki.path(ca + ".pem")},
                  {"cert_file", pki.path("client.pem")},
                  {"key_file", pki.path("client.key")},
                  {"verify_hostname", verify_hostname}};
        return {{"/mqtt/broker", "ssl://" + host + ":" + std::to_string(tls_port)},
                {"/mqtt/tls", t.dump()},
                {"/mqtt/username", gateway_id},
                {"/mqtt/password_file", pki.path("mqtt.pass")},
                {"/mqtt/reconnect_max_s", "1"}};
    }
};

/// The daemon's status once it has tried (and failed) to connect at least once.
json failed_connect_status(DemoRig& rig) {
    json last;
    const bool tried = wait_until(
        [&] {
            const auto s = daemon_status(rig);
            if (!s) return false;
            last = *s;
            return !last.value(json::json_pointer("/mqtt/last_error"), std::string()).empty();
        },
        20s, 200ms);
    INFO(last.dump());
    REQUIRE(tried);
    return last;
}

}  // namespace

TEST_CASE(
    "mutual TLS to the broker: data arrives, the password comes from a file, the ACL "
    "keeps the gateway in its own tree",
    "[integration][tls]") {
    TlsRig t("tls");
    DemoRig& rig = *t.rig;
    rig.start_gateway(t.tls("127.0.0.1", "ca"));
    REQUIRE(rig.wait_for_windows(1, 30s));
    const auto status = daemon_status(rig);
    REQUIRE(status);
    CHECK(status->value(json::json_pointer("/mqtt/connected"), false));
    // The password is never in the log.
    CHECK(read_file(rig.dir().path() / "towngwd.log").find("s3cret") == std::string::npos);

    // The gateway's certificate may publish only under its own tree: a message elsewhere is
    // dropped by the broker, one in its tree (sent after it) arrives.
    const std::string other = std::string(kTopicPrefix) + "/" + kTownId + "/someone-else/data/x";
    const std::string own = rig.topic_base() + "acl-marker";
    for (const auto& topic : {other, own}) {
        const auto r = run_command(
            {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(t.tls_port), "--cafile",
             t.pki.path("ca.pem"), "--cert", t.pki.path("client.pem"), "--key",
             t.pki.path("client.key"), "-q", "1", "-t", topic, "-m", "acl-test"},
            rig.dir().path());
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(0));
    }
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(),
                               [&](const ReceivedMessage& m) { return m.topic == own; });
        },
        10s));
    const auto all = rig.collector().messages();
    CHECK(std::none_of(all.begin(), all.end(),
                       [&](const ReceivedMessage& m) { return m.topic == other; }));
}

TEST_CASE("a broker certificate from another CA is refused", "[integration][tls]") {
    TlsRig t("tlsca");
    DemoRig& rig = *t.rig;
    rig.start_gateway(t.tls("127.0.0.1", "other-ca"));
    const json status = failed_connect_status(rig);
    INFO(status.dump());
    CHECK(status.value(json::json_pointer("/mqtt/connects"), -1) == 0);
    CHECK_FALSE(status.value(json::json_pointer("/mqtt/connected"), true));
    CHECK(rig.collector().messages().empty());
}

TEST_CASE(
    "a host name the broker certificate does not carry is refused unless "
    "verify_hostname is off",
    "[integration][tls]") {
    TlsRig t("tlshost");
    DemoRig& rig = *t.rig;
    // "localhost" resolves to 127.0.0.1, but the certificate names only the IP address.
    rig.start_gateway(t.tls("localhost", "ca"));
    const json status = failed_connect_status(rig);
    INFO(status.dump());
    CHECK(status.value(json::json_pointer("/mqtt/connects"), -1) == 0);
    CHECK(rig.collector().messages().empty());

    rig.gateway().process().stop(10s);
    rig.start_gateway(t.tls("localhost", "ca", /*verify_hostname=*/false));
    REQUIRE(rig.wait_for_windows(1, 30s));
}
