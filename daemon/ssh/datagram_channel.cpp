#include "daemon/ssh/datagram_channel.hpp"

#include <algorithm>
#include <chrono>

namespace ghost::daemon::ssh {

nlohmann::json DatagramCounters::to_json() const {
    return {{"frames_in", frames_in.load()},
            {"frames_out", frames_out.load()},
            {"bytes_in", bytes_in.load()},
            {"bytes_out", bytes_out.load()},
            {"dropped",
             {{"queue_full", dropped_queue_full.load()},
              {"unencodable", dropped_unencodable.load()},
              {"closed", dropped_closed.load()}}},
            {"unknown_skipped", unknown_skipped.load()}};
}

DatagramChannel::DatagramChannel(BridgeHost& session, ssh_channel channel,
                                 uint32_t announced_window,
                                 std::shared_ptr<DatagramCounters> counters)
    : session_(session),
      channel_(channel),
      counters_(std::move(counters)),
      window_(announced_window) {}

DatagramChannel::~DatagramChannel() = default;

void DatagramChannel::start(Receiver on_datagram, HelloReceiver on_hello) {
    on_datagram_ = std::move(on_datagram);
    on_hello_ = std::move(on_hello);
    callbacks_.userdata = this;
    callbacks_.channel_data_function = &DatagramChannel::on_data;
    callbacks_.channel_eof_function = &DatagramChannel::on_eof;
    callbacks_.channel_close_function = &DatagramChannel::on_close;
    ssh_callbacks_init(&callbacks_);
    ssh_set_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = true;
    window_.start_at(session_.windows().settings().initial);
    want_grant();
}

// ---------------------------------------------------------------- ssh -> receiver

int DatagramChannel::on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                             void* user) {
    auto* self = static_cast<DatagramChannel*>(user);
    auto now = std::chrono::steady_clock::now();
    auto sample = self->window_.on_packet(len, 0, now);
    if (sample.count() > 0) self->session_.windows().note_rtt_sample(sample, now);
    if (self->finished_) return static_cast<int>(len);
    if (self->window_.overrun()) {
        self->finish("the peer sent " + std::to_string(self->window_.received()) +
                     " bytes, more than the window it was granted");
        return static_cast<int>(len);
    }
    // stderr is never used by the protocol: what arrives there is discarded (and the
    // window grant's read of that stream then copies nothing).
    if (!is_stderr) self->take(static_cast<const uint8_t*>(data), len);
    SessionWindows& w = self->session_.windows();
    self->window_.on_delivered(len, now, w.rtt(now), w.settings(), w.budget());
    self->session_.count_bytes(len, 0);
    self->want_grant();
    return static_cast<int>(len);
}

void DatagramChannel::take(const uint8_t* data, size_t len) {
    while (len > 0 && !finished_) {
        size_t took = reader_.feed({data, len});
        data += took;
        len -= took;
        while (auto frame = reader_.next()) {
            if (frame->hello) {
                if (on_hello_) on_hello_(*frame->hello);
            } else if (frame->datagram) {
                ++counters_->frames_in;
                counters_->bytes_in += frame->datagram->payload.size();
                if (on_datagram_) on_datagram_(std::move(*frame->datagram));
            }
            if (finished_) return;
        }
        counters_->unknown_skipped = reader_.skipped();
        if (!reader_.error().empty()) return finish(reader_.error());
        if (took == 0 && len > 0) return finish("datagram frame reader made no progress");
    }
}

void DatagramChannel::on_eof(ssh_session, ssh_channel, void* user) {
    static_cast<DatagramChannel*>(user)->finish("the peer ended the datagram channel");
}

void DatagramChannel::on_close(ssh_session, ssh_channel, void* user) {
    static_cast<DatagramChannel*>(user)->finish("the peer closed the datagram channel");
}

void DatagramChannel::want_grant() {
    if (grant_posted_ || finished_ || window_.grant_due(0) == 0) return;
    grant_posted_ = true;
    asio::post(session_.io(), [self = shared_from_this()] {
        self->update_window();
        self->kick();
    });
}

void DatagramChannel::update_window() {
    grant_posted_ = false;
    if (finished_ || !channel_ || !ssh_channel_is_open(channel_)) return;
    uint32_t count = window_.grant_due(0);
    if (count == 0) return;
    window_.granted(count, std::chrono::steady_clock::now());
    session_.windows().note_target(window_.target());
    // Nothing is copied: the stderr stream stays empty (on_data takes all of it).
    if (ssh_channel_read_timeout(channel_, session_.scratch(), count, 1, 0) < 0)
        session_.logger().debug("datagram channel: window grant failed");
}

// ---------------------------------------------------------------- sender -> ssh

bool DatagramChannel::send(const udp::Datagram& d) {
    if (finished_) {
        ++counters_->dropped_closed;
        return false;
    }
    scratch_frame_.clear();
    if (!udp::encode(d, scratch_frame_)) {
        ++counters_->dropped_unencodable;
        return false;
    }
    if (!enqueue(scratch_frame_)) return false;
    ++counters_->frames_out;
    counters_->bytes_out += d.payload.size();
    return true;
}

void DatagramChannel::send_hello(const udp::Hello& h) {
    scratch_frame_.clear();
    udp::encode(h, scratch_frame_);
    enqueue(scratch_frame_);
}

bool DatagramChannel::enqueue(const std::vector<uint8_t>& frame) {
    if (out_.size() - out_off_ + frame.size() > kQueueCap) {
        ++counters_->dropped_queue_full;
        return false;
    }
    if (out_off_ > 0 && out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    }
    out_.insert(out_.end(), frame.begin(), frame.end());
    want_flush();
    return true;
}

void DatagramChannel::want_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(session_.io(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
        self->kick();
    });
}

void DatagramChannel::flush() {
    while (!finished_ && channel_ && out_off_ < out_.size()) {
        size_t want = std::min({out_.size() - out_off_, session_.out_allowance(),
                                static_cast<size_t>(ssh_channel_window_size(channel_))});
        if (want == 0) return;  // Connection calls again after its next pump
        int w = ssh_channel_write(channel_, out_.data() + out_off_, static_cast<uint32_t>(want));
        if (w < 0) return finish("datagram channel write failed");
        if (w == 0) return;
        session_.consume_out(static_cast<size_t>(w));
        session_.count_bytes(0, static_cast<uint64_t>(w));
        out_off_ += static_cast<size_t>(w);
    }
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
        // After a burst, give the memory back.
        if (out_.capacity() > 256 * 1024) out_.shrink_to_fit();
    }
}

void DatagramChannel::kick() {
    if (!finished_) session_.after_io();
}

// ---------------------------------------------------------------- teardown

void DatagramChannel::finish(std::string why) {
    if (finished_) return;
    finished_ = true;
    end_reason_ = std::move(why);
    session_.logger().info("datagram channel ends: ", end_reason_);
    window_.release(session_.windows().budget());
    session_.windows().note_budget();
    out_.clear();
    out_.shrink_to_fit();
    out_off_ = 0;
}

void DatagramChannel::detach_for_teardown() {
    if (callbacks_installed_ && channel_) ssh_remove_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = false;
    channel_ = nullptr;
    if (!finished_) {
        finished_ = true;
        window_.release(session_.windows().budget());
        session_.windows().note_budget();
    }
}

}  // namespace ghost::daemon::ssh
