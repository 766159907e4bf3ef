# umbra: drop a copy of a message this mailbox already has.
#
# Every message umbra delivers carries X-Umbra-Org-Id, the organisation
# message id (SPEC SR-14): the same on every copy of one transport message,
# whichever umbra hub delivers it, and different for every other message
# (also for two messages sharing a Message-ID). When two hubs can deliver
# into this mailbox server (a shadow takeover, a primary back with its old
# queue, a dumpster redelivery through another hub), the second copy is
# discarded here. Mail without the header (not from umbra) is never
# tracked and always delivered. RFC 7352, Dovecot Pigeonhole.
require ["duplicate"];

if duplicate :header "X-Umbra-Org-Id" :seconds 172800 {
  discard;
  stop;
}
