/*
 * Data-plane counters, declared once. Each X(name, help) row generates an
 * enum value TW_CNT_<name> and a name string. Rows named drop_* are drop
 * reasons: tw_drop_burst() counts them, `twctl status` lists them apart.
 *
 * Threads: every polling lcore writes only its own struct tw_lcore_stats
 * (relaxed stores, one writer); tw-control reads them relaxed and sums.
 */
#ifndef TW_COUNTERS_H
#define TW_COUNTERS_H

#define TW_DP_COUNTERS(X)                                                    \
	X(rx_packets, "packets received from the port")                     \
	X(rx_frames, "taskwire frames accepted for decoding")               \
	X(tx_packets, "packets handed to the port")                         \
	X(arp_replies, "ARP requests answered")                             \
	X(icmp_echo_replies, "ICMP echo requests answered")                 \
	X(tasks_received, "tasks decoded from frames")                      \
	X(tasks_routed, "task deliveries enqueued on queue rings")          \
	X(route_cache_hits, "routing results served by the lcore's cache")  \
	X(route_cache_misses, "routing results computed (cached when cacheable)") \
	X(acks, "tasks confirmed with ACK")                                 \
	X(nacks, "tasks or frames refused with NACK")                       \
	X(tasks_executed, "tasks run by a worker")                          \
	X(tasks_succeeded, "tasks whose handler succeeded")                 \
	X(tasks_failed, "tasks whose handler failed or was unknown")        \
	X(results_sent, "result entries sent to publishers")                \
	X(tasks_dropped_head, "tasks dropped from a full queue's head (x-overflow drop-head)") \
	X(tasks_expired, "tasks whose queue TTL passed before a worker took them") \
	X(tasks_dead_lettered, "task copies re-queued through a dead-letter exchange") \
	X(dead_letter_lost, "dead-lettered copies lost: no descriptor, or their queue still full after waiting (dead_letter_waited) or gone") \
	X(polls, "loop passes")                                             \
	X(loop_cycles, "TSC cycles spent in loop passes (idle sleeps excluded)") \
	X(busy_cycles, "TSC cycles of the passes that did work (busy ratio = busy / loop)") \
	X(idle_polls, "loop passes that found no work")                     \
	X(idle_sleeps, "back-off sleeps after a run of idle passes")        \
	X(max_stall_ns, "longest loop pass, ns (maximum, not a sum)")       \
	X(passes_over_100us, "loop passes that took 100 us or more")        \
	X(passes_over_1ms, "loop passes that took 1 ms or more")            \
	X(drop_not_ipv4, "non-IPv4, non-ARP ethernet frames")               \
	X(drop_bad_ip, "IPv4 header invalid: length, version or checksum")  \
	X(drop_ip_fragment, "IPv4 fragments (no reassembly)")               \
	X(drop_not_for_us, "IPv4 or ARP addressed to another host")         \
	X(drop_not_udp, "IPv4 protocols other than UDP and ICMP echo")      \
	X(drop_bad_udp, "UDP length or checksum invalid")                   \
	X(drop_wrong_port, "UDP to a port the engine does not serve")       \
	X(drop_not_taskwire, "UDP payload without the taskwire magic")      \
	X(drop_multiseg, "multi-segment mbufs (jumbo frames)")              \
	X(drop_other_arp_icmp, "ARP/ICMP the engine does not answer")       \
	X(frames_released, "frames released by the io stage after dispatch") \
	X(drop_malformed, "frames that did not decode (NACKed)")            \
	X(drop_bad_version, "frames with an unsupported version (NACKed)")  \
	X(drop_too_large, "oversized datagrams (NACKed)")                   \
	X(drop_tx_full, "packets the port did not accept for transmit")     \
	X(drop_no_mbuf, "replies not sent: mbuf pool empty")                \
	X(drop_reply_overflow, "replies not sent: reply larger than a frame")\
	X(nack_unroutable, "tasks NACKed: no binding matched")              \
	X(nack_unknown_exchange, "tasks NACKed: exchange not declared")     \
	X(nack_queue_full, "tasks NACKed: queue ring full")                 \
	X(nack_no_resources, "tasks NACKed: task descriptor pool empty")    \
	X(nack_invalid_task, "tasks NACKed: invalid task fields")                \
	X(nack_access_refused, "tasks NACKed: published to an internal exchange") \
	X(nack_no_scheduler, "tasks NACKed: delayed, but no tw-control to hold them") \
	X(nack_sched_full, "delayed tasks NACKed no-resources: scheduler at its cap") \
	X(tasks_scheduled, "tasks handed to tw-control's scheduler (eta, countdown)") \
	X(tasks_retried, "retries handed to tw-control's scheduler")          \
	X(retries_exhausted, "tasks that failed after their last retry")      \
	X(retry_lost, "retries that could not reach the scheduler (FAILURE sent)") \
	X(tasks_revoked, "tasks not run: revoked")                            \
	X(tasks_injected, "tasks re-injected by tw-control (due or retried)") \
	X(inject_refused, "re-injected tasks no queue took (FAILURE sent)")   \
	X(tasks_published_by_tasks, "follow-up tasks published by handlers") \
	X(made_stash_full, "engine-made frames refused: the lcore's stash for its route stage was full (their tasks FAILed, or 0 to the handler)") \
	X(records_sent, "state records handed to tw-control's result store")  \
	X(records_lost, "state records dropped: tw-control absent or behind") \
	X(tasks_rate_limited, "tasks that waited for their task's rate limit") \
	X(tasks_time_limited, "threads-pool tasks failed by their hard time limit") \
	X(threads_full, "threads-pool tasks that waited for a free slot in the scheduler") \
	X(tasks_duplicate, "retransmitted tasks confirmed again, not run again") \
	X(results_resent, "results sent again to a publisher that retransmitted") \
	X(dedup_evicted_waiting, "duplicate-table entries of tasks not finished yet given up for newer ones (every way of their set waiting): a retransmit of such a task would run it again") \
	X(frames_refused_mac, "frames refused: MAC missing or wrong (--keys)") \
	X(frames_refused_replay, "signed frames refused: replayed, outside the replay window, or no room to remember them") \
	X(nack_source_refused, "tasks NACKed: source address outside the exchange's ranges") \
	X(wf_steps, "workflow steps published by the worker that finished their parent") \
	X(wf_step_refused, "workflow steps that could not be published or queued (FAILURE recorded)") \
	X(wf_groups_opened, "workflow groups and chords opened") \
	X(wf_groups_done, "workflow groups and chords whose members all succeeded") \
	X(wf_groups_failed, "workflow groups and chords failed by a member") \
	X(wf_callbacks, "chord callbacks fired (by the last member to finish)") \
	X(wf_member_repeats, "group members reported twice (ignored: counted once)") \
	X(wf_unknown_group, "group members whose group is not open (NACKed or FAILURE)") \
	X(wf_big_steps, "workflow steps too large for one packet buffer, made in a large buffer") \
	X(wf_big_refused, "workflow steps or chord results refused: no large buffer free (--reasm-memory-mb); their workflow FAILed") \
	X(rc_subscribed, "remote consumers subscribed (or re-subscribed)") \
	X(rc_refused, "subscriptions refused: missing queue, credit 0, bad fields, table full") \
	X(rc_credit_clamped, "subscriptions whose prefetch was clamped to the engine's maximum") \
	X(rc_share_held, "subscriptions held below their credit by their share of the in-flight table") \
	X(rc_cancelled, "remote consumers that cancelled") \
	X(rc_lost, "remote consumers dropped after missing their heartbeats") \
	X(rc_heartbeats, "heartbeats received from remote consumers") \
	X(rc_unknown, "consumer frames naming no known consumer (or from another address)") \
	X(rc_deliveries, "tasks delivered to remote consumers (redeliveries included)") \
	X(rc_redelivered, "tasks put back at the head of their queue, delivery_count + 1") \
	X(rc_lease_expired, "deliveries whose lease ran out before an ack") \
	X(rc_acks, "acks taken (success, failure, retry, reject)") \
	X(rc_progress, "progress acks (each extends its lease)") \
	X(rc_lease_extended, "leases extended without a report (a worker's refresh of a long task)") \
	X(rc_ack_unknown, "acks refused: delivery tag never issued") \
	X(rc_ack_stale, "acks refused: delivery already acked or requeued (duplicate, stale)") \
	X(rc_ack_foreign, "acks refused: delivery made to another consumer address") \
	X(rc_ack_bad, "acks refused: no or unknown outcome") \
	X(rc_key_refused, "consumer frames refused: signed under a key other than the consumer's") \
	X(rc_too_large, "tasks too large for one delivery datagram (FAILURE recorded)") \
	X(rc_requeue_tail, "redeliveries put at the tail (head stash full, or no consumer left)") \
	X(rc_delivery_limit, "tasks ended past their queue's delivery limit (FAILURE or dead-lettered)") \
	X(rc_forwarded, "consumer frames handed to the io lcore that owns the consumers") \
	X(drop_rc_forward_full, "consumer frames lost: the owner's ring from this io lcore was full") \
	X(retries_capped, "tasks whose retries ended at --retry-max (they allowed more)") \
	X(retry_floor_raised, "retry countdowns raised to --retry-min-ms") \
	X(solo_wait_refused, "busy-waits over --solo-max-us refused on a polling lcore (FAILURE)") \
	X(solo_overruns, "solo tasks that held their polling lcore past --solo-max-us") \
	X(wf_member_refused, "group members refused: not sent by their group's publisher") \
	X(wf_groups_refused, "group nodes refused: group limit or memory budget reached") \
	X(wf_groups_expired, "groups failed by their expiry (callback not run, slot freed)") \
	X(cookie_missing, "frames refused retry-with-cookie: no source cookie (a client's first frame, or spoofed)") \
	X(cookie_expired, "frames refused retry-with-cookie: source cookie older than two lifetimes") \
	X(cookie_bad, "frames refused retry-with-cookie: source cookie forged, damaged or another address's") \
	X(cookies_sent, "source cookies sent (in refusals to unproven sources)") \
	X(unverified_silent, "refusals not sent: larger than the unproven source's datagram") \
	X(probes_answered, "frames with nothing to do answered (a client's start: the cookie)") \
	X(steered, "retransmitting publishers' frames handed to the io lcore that owns their source") \
	X(drop_steer_full, "retransmitting publishers' frames lost: the owning io lcore's ring was full") \
	X(journal_records, "durable tasks handed to the journal writer")   \
	X(journal_held, "ACKs held until the journal synced their task")    \
	X(nack_journal, "durable tasks NACKed no-resources: journal failing, behind or absent") \
	X(journal_done_lost, "completion records not handed to the journal (the task may run again after a crash)") \
	X(journal_delivered, "deliveries of durable tasks to remote consumers handed to the journal") \
	X(journal_groups, "groups and chords with members on durable queues handed to the journal") \
	X(journal_group_lost, "group member results or group ends not handed to the journal (after a crash the member may run again, or the group come back)") \
	X(journal_delivered_lost, "deliveries of durable tasks not handed to the journal (a crash brings the task back with the count it had)") \
	X(frag_consumed, "fragment datagrams copied into their reassembly (then released)") \
	X(frag_reassembled, "frames reassembled from fragments") \
	X(frag_timed_out, "reassemblies abandoned at --reasm-timeout-ms (fragments lost)") \
	X(frag_sent, "fragment datagrams sent (frames over one datagram)") \
	X(frag_send_failed, "large frames not sent: no large buffer free") \
	X(drop_frag_bad, "fragments refused: malformed, or disagreeing with their message") \
	X(drop_frag_duplicate, "fragments received twice") \
	X(drop_frag_too_large, "fragments of frames over --max-frame (NACKed too-large)") \
	X(drop_frag_source_full, "fragments refused: their source's reassembly share is taken") \
	X(drop_frag_memory_full, "fragments refused: reassembly memory or slots full") \
	X(drop_frag_unproven, "fragments refused before reassembly: no valid source cookie (retry-with-cookie)") \
	X(wf_groups_no_memory, "group nodes refused: the preallocated group memory (--group-memory-mb) or a large buffer for the node had no room") \
	X(dead_letter_waited, "dead-letters that found their queue's ring full and waited in the lcore's stash for room (up to 1 s)") \
	X(wf_lists_refused, "chord results lists over the largest frame refused: the list buffer (--group-list-mb) held by another chord or too small")

enum tw_counter {
#define TW_X_ENUM(name, help) TW_CNT_##name,
	TW_DP_COUNTERS(TW_X_ENUM)
#undef TW_X_ENUM
	TW_CNT__MAX
};

/* Names indexed by enum tw_counter; defined in tw_counters.c. */
extern const char *const tw_counter_names[TW_CNT__MAX];
extern const char *const tw_counter_help[TW_CNT__MAX];

#endif
