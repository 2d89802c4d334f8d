-- capsule.lua: a Wireshark/tshark dissector for the capsule hosts' wire format on UDP 7471 (hosts/formats/wire.h, hosts/formats/hostd_msg.h, hosts/formats/tcpconn.h; docs/NETWORK.md sections 2, 6.7, 6.11, 6.12).
--
-- Use: tshark -X lua_script:docs/wireshark/capsule.lua -r FILE.pcap
--      wireshark -X lua_script:docs/wireshark/capsule.lua FILE.pcap
-- (or copy it to ~/.local/lib/wireshark/plugins/).  Every message gets the
-- field capsule.msg, its name: DATA, REDIRECT, SYNC, SYNC_ACK, FLUSH_TO,
-- FLUSH, HOLD, ACK, GAPS_ASK, GAPS_REPORT; display filter e.g.  capsule.msg == "HOLD".
-- DATA's payload is handed to Wireshark's IPv4 dissector, so the inner
-- packet (TCP, UDP, ...) shows under the outer headers.  The tag is shown,
-- not checked: checking needs the cluster's data key.

local p = Proto("capsule", "Capsule host-to-host wire format")

local wire_types = { [1] = "DATA", [2] = "REDIRECT", [3] = "SYNC", [4] = "FLUSH", [5] = "HOLD", [6] = "ACK", [7] = "GAPS" }
local sync_kinds = { [1] = "SYNC", [2] = "SYNC_ACK", [3] = "FLUSH_TO" }
local ack_kinds = { [1] = "HOLD", [2] = "FLUSH", [3] = "FLUSH_TO" }
local gaps_kinds = { [1] = "GAPS_ASK", [2] = "GAPS_REPORT" }

local HDR, TAG = 28, 16

local f = {
	msg = ProtoField.string("capsule.msg", "Message"),
	version = ProtoField.uint8("capsule.version", "Version", base.DEC),
	type = ProtoField.uint8("capsule.type", "Type", base.DEC, wire_types),
	flags = ProtoField.uint16("capsule.flags", "Flags", base.HEX),
	network_id = ProtoField.uint32("capsule.network_id", "Network id", base.DEC),
	sender = ProtoField.uint32("capsule.sender", "Sender host id", base.DEC),
	epoch = ProtoField.uint32("capsule.epoch", "Epoch (sender's view of the destination capsule)", base.DEC),
	seq = ProtoField.uint64("capsule.seq", "Sequence (anti-replay)", base.DEC),
	length = ProtoField.uint16("capsule.length", "Payload length", base.DEC),
	reserved = ProtoField.uint16("capsule.reserved", "Reserved", base.HEX),
	tag = ProtoField.bytes("capsule.tag", "Tag (Poly1305, not checked here)"),
	-- payload fields shared by several messages
	capsule_ip = ProtoField.ipv4("capsule.capsule_ip", "Capsule"),
	m_epoch = ProtoField.uint32("capsule.msg_epoch", "Capsule epoch", base.DEC),
	id = ProtoField.uint64("capsule.id", "Message id", base.DEC),
	migration_id = ProtoField.uint64("capsule.migration_id", "Migration id", base.DEC),
	host_id = ProtoField.uint32("capsule.host_id", "Host id", base.DEC),
	locator = ProtoField.ipv4("capsule.locator", "Locator"),
	port = ProtoField.uint16("capsule.port", "Data port", base.DEC),
	sync_kind = ProtoField.uint8("capsule.sync_kind", "Kind", base.DEC, sync_kinds),
	ack_kind = ProtoField.uint8("capsule.ack_kind", "Acknowledges", base.DEC, ack_kinds),
	pad = ProtoField.bytes("capsule.pad", "Reserved"),
	gaps_kind = ProtoField.uint8("capsule.gaps_kind", "Kind", base.DEC, gaps_kinds),
	query_id = ProtoField.uint64("capsule.query_id", "Query id", base.DEC),
	g_n = ProtoField.uint16("capsule.gaps_n", "Connections", base.DEC),
	g_more = ProtoField.uint32("capsule.gaps_more", "Packets of connections left out", base.DEC),
	g_held = ProtoField.uint32("capsule.gaps_held_ms", "ms from SYNC until this host's queue was flushed", base.DEC),
	gap = ProtoField.none("capsule.gap", "Connection gap"),
	g_peer = ProtoField.ipv4("capsule.gap.peer_ip", "Peer"),
	g_pport = ProtoField.uint16("capsule.gap.peer_port", "Peer port", base.DEC),
	g_cport = ProtoField.uint16("capsule.gap.capsule_port", "Capsule port", base.DEC),
	g_start = ProtoField.uint32("capsule.gap.start_ms", "Silence began (ms after SYNC)", base.DEC),
	g_ms = ProtoField.uint32("capsule.gap.gap_ms", "Longest silence (ms)", base.DEC),
	g_flags = ProtoField.uint16("capsule.gap.flags", "Flags (1 resumed, 2 from SYNC)", base.HEX),
	n = ProtoField.uint16("capsule.hold_n", "Connections", base.DEC),
	rec_len = ProtoField.uint16("capsule.hold_rec_len", "Record length", base.DEC),
	-- one TCP connection's state (HOLD)
	conn = ProtoField.none("capsule.conn", "Connection"),
	c_cap = ProtoField.ipv4("capsule.conn.capsule_ip", "Capsule"),
	c_peer = ProtoField.ipv4("capsule.conn.peer_ip", "Peer"),
	c_cport = ProtoField.uint16("capsule.conn.capsule_port", "Capsule port", base.DEC),
	c_pport = ProtoField.uint16("capsule.conn.peer_port", "Peer port", base.DEC),
	c_snd_nxt = ProtoField.uint32("capsule.conn.snd_nxt", "snd_nxt", base.DEC),
	c_snd_una = ProtoField.uint32("capsule.conn.snd_una", "snd_una", base.DEC),
	c_rcv_nxt = ProtoField.uint32("capsule.conn.rcv_nxt", "rcv_nxt", base.DEC),
	c_snd_wnd = ProtoField.uint32("capsule.conn.snd_wnd", "snd_wnd (peer's window)", base.DEC),
	c_rcv_wnd = ProtoField.uint32("capsule.conn.rcv_wnd", "rcv_wnd (capsule's window)", base.DEC),
	c_wso = ProtoField.uint8("capsule.conn.wscale_ours", "Window scale, ours", base.DEC),
	c_wsp = ProtoField.uint8("capsule.conn.wscale_peer", "Window scale, peer's", base.DEC),
	c_ts_ok = ProtoField.uint8("capsule.conn.ts_ok", "Timestamps", base.DEC),
	c_res = ProtoField.uint8("capsule.conn.reserved", "Reserved", base.HEX),
	c_ts_val = ProtoField.uint32("capsule.conn.ts_val", "Last TSval sent", base.DEC),
	c_ts_recent = ProtoField.uint32("capsule.conn.ts_recent", "Last TSval received", base.DEC),
}
p.fields = {}
for _, v in pairs(f) do table.insert(p.fields, v) end

local e_short = ProtoExpert.new("capsule.short", "Shorter than its message needs", expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_short }

local ip_dissector = Dissector.get("ip")

-- capsule_ip | epoch | id: FLUSH, and the start of HOLD
local function ip_epoch_id(t, tvb, o)
	t:add(f.capsule_ip, tvb(o, 4))
	t:add(f.m_epoch, tvb(o + 4, 4))
	t:add(f.id, tvb(o + 8, 8))
end

local function conn(t, tvb, o)
	local c = t:add(f.conn, tvb(o, 44))
	c:add(f.c_cap, tvb(o, 4))
	c:add(f.c_peer, tvb(o + 4, 4))
	c:add(f.c_cport, tvb(o + 8, 2))
	c:add(f.c_pport, tvb(o + 10, 2))
	c:add(f.c_snd_nxt, tvb(o + 12, 4))
	c:add(f.c_snd_una, tvb(o + 16, 4))
	c:add(f.c_rcv_nxt, tvb(o + 20, 4))
	c:add(f.c_snd_wnd, tvb(o + 24, 4))
	c:add(f.c_rcv_wnd, tvb(o + 28, 4))
	c:add(f.c_wso, tvb(o + 32, 1))
	c:add(f.c_wsp, tvb(o + 33, 1))
	c:add(f.c_ts_ok, tvb(o + 34, 1))
	c:add(f.c_res, tvb(o + 35, 1))
	c:add(f.c_ts_val, tvb(o + 36, 4))
	c:add(f.c_ts_recent, tvb(o + 40, 4))
	c:append_text(string.format(", %s:%d <-> %s:%d", tostring(tvb(o, 4):ipv4()), tvb(o + 8, 2):uint(),
		tostring(tvb(o + 4, 4):ipv4()), tvb(o + 10, 2):uint()))
end

-- Each returns the message's name and a line for the Info column.
local payload = {}

payload[2] = function(t, tvb, o, len)   -- REDIRECT, 20 bytes
	if len < 20 then return "REDIRECT", "short" end
	t:add(f.capsule_ip, tvb(o, 4))
	t:add(f.host_id, tvb(o + 4, 4))
	t:add(f.locator, tvb(o + 8, 4))
	t:add(f.port, tvb(o + 12, 2))
	t:add(f.pad, tvb(o + 14, 2))
	t:add(f.m_epoch, tvb(o + 16, 4))
	local host = tvb(o + 4, 4):uint()
	if host == 0 then
		return "REDIRECT", string.format("%s: not here, ask the directory", tostring(tvb(o, 4):ipv4()))
	end
	return "REDIRECT", string.format("%s is on host %d (%s:%d) at epoch %d", tostring(tvb(o, 4):ipv4()),
		host, tostring(tvb(o + 8, 4):ipv4()), tvb(o + 12, 2):uint(), tvb(o + 16, 4):uint())
end

payload[3] = function(t, tvb, o, len)   -- SYNC / SYNC_ACK / FLUSH_TO, 32 bytes
	if len < 32 then return "SYNC", "short" end
	local kind = tvb(o, 1):uint()
	local name = sync_kinds[kind] or string.format("SYNC kind %d", kind)
	t:add(f.sync_kind, tvb(o, 1))
	t:add(f.pad, tvb(o + 1, 3))
	t:add(f.capsule_ip, tvb(o + 4, 4))
	t:add(f.m_epoch, tvb(o + 8, 4))
	t:add(kind == 3 and f.id or f.migration_id, tvb(o + 12, 8))
	t:add(f.host_id, tvb(o + 20, 4))
	t:add(f.locator, tvb(o + 24, 4))
	t:add(f.port, tvb(o + 28, 2))
	t:add(f.pad, tvb(o + 30, 2))
	local ip, e, host = tostring(tvb(o + 4, 4):ipv4()), tvb(o + 8, 4):uint(), tvb(o + 20, 4):uint()
	if kind == 1 then
		return name, string.format("%s epoch %d moves to host %d: queue its packets", ip, e, host)
	elseif kind == 2 then
		return name, string.format("%s epoch %d: host %d queues", ip, e, host)
	end
	return name, string.format("%s runs on host %d (%s:%d) at epoch %d: send there", ip, host,
		tostring(tvb(o + 24, 4):ipv4()), tvb(o + 28, 2):uint(), e)
end

payload[4] = function(t, tvb, o, len)   -- FLUSH, 16 bytes
	if len < 16 then return "FLUSH", "short" end
	ip_epoch_id(t, tvb, o)
	return "FLUSH", string.format("%s runs again at epoch %d: release what you hold", tostring(tvb(o, 4):ipv4()),
		tvb(o + 4, 4):uint())
end

payload[5] = function(t, tvb, o, len)   -- HOLD, 20 + 44 n bytes
	if len < 20 then return "HOLD", "short" end
	ip_epoch_id(t, tvb, o)
	t:add(f.n, tvb(o + 16, 2))
	t:add(f.rec_len, tvb(o + 18, 2))
	local n, rl = tvb(o + 16, 2):uint(), tvb(o + 18, 2):uint()
	for i = 0, n - 1 do
		local at = o + 20 + i * rl
		if rl < 44 or at + 44 > o + len then break end
		conn(t, tvb, at)
	end
	return "HOLD", string.format("%s froze at epoch %d: hold %d connection%s", tostring(tvb(o, 4):ipv4()),
		tvb(o + 4, 4):uint(), n, n == 1 and "" or "s")
end

payload[6] = function(t, tvb, o, len)   -- ACK, 20 bytes
	if len < 20 then return "ACK", "short" end
	t:add(f.ack_kind, tvb(o, 1))
	t:add(f.pad, tvb(o + 1, 3))
	t:add(f.capsule_ip, tvb(o + 4, 4))
	t:add(f.m_epoch, tvb(o + 8, 4))
	t:add(f.id, tvb(o + 12, 8))
	local k = tvb(o, 1):uint()
	return "ACK", string.format("got %s about %s epoch %d", ack_kinds[k] or ("kind " .. k),
		tostring(tvb(o + 4, 4):ipv4()), tvb(o + 8, 4):uint())
end

payload[7] = function(t, tvb, o, len)   -- GAPS_ASK (20 bytes) / GAPS_REPORT (32 + 20 n)
	if len < 20 then return "GAPS", "short" end
	t:add(f.gaps_kind, tvb(o, 1))
	t:add(f.pad, tvb(o + 1, 3))
	t:add(f.capsule_ip, tvb(o + 4, 4))
	t:add(f.m_epoch, tvb(o + 8, 4))
	t:add(f.query_id, tvb(o + 12, 8))
	local k, ip, ep = tvb(o, 1):uint(), tostring(tvb(o + 4, 4):ipv4()), tvb(o + 8, 4):uint()
	if k ~= 2 then
		return gaps_kinds[k] or "GAPS", string.format("what did %s's connections see in its migration from epoch %d?", ip, ep)
	end
	if len < 32 then return "GAPS_REPORT", "short" end
	t:add(f.g_n, tvb(o + 20, 2))
	t:add(f.rec_len, tvb(o + 22, 2))
	t:add(f.g_more, tvb(o + 24, 4))
	t:add(f.g_held, tvb(o + 28, 4))
	local n, rl = tvb(o + 20, 2):uint(), tvb(o + 22, 2):uint()
	for i = 0, n - 1 do
		local at = o + 32 + i * rl
		if rl < 20 or at + 20 > o + len then break end
		local g = t:add(f.gap, tvb(at, 20))
		g:add(f.g_peer, tvb(at, 4))
		g:add(f.g_pport, tvb(at + 4, 2))
		g:add(f.g_cport, tvb(at + 6, 2))
		g:add(f.g_start, tvb(at + 8, 4))
		g:add(f.g_ms, tvb(at + 12, 4))
		g:add(f.g_flags, tvb(at + 16, 2))
		g:append_text(string.format(": %s:%d silent %d ms", tostring(tvb(at, 4):ipv4()), tvb(at + 4, 2):uint(),
			tvb(at + 12, 4):uint()))
	end
	return "GAPS_REPORT", string.format("%d connection%s of %s (migration from epoch %d)", n, n == 1 and "" or "s", ip, ep)
end

function p.dissector(tvb, pinfo, tree)
	local n = tvb:len()
	if n < HDR + TAG then return 0 end
	local plen = tvb(24, 2):uint()
	local t = tree:add(p, tvb(0, n))
	t:add(f.version, tvb(0, 1))
	t:add(f.type, tvb(1, 1))
	t:add(f.flags, tvb(2, 2))
	t:add(f.network_id, tvb(4, 4))
	t:add(f.sender, tvb(8, 4))
	t:add(f.epoch, tvb(12, 4))
	t:add(f.seq, tvb(16, 8))
	t:add(f.length, tvb(24, 2))
	t:add(f.reserved, tvb(26, 2))
	pinfo.cols.protocol = "CAPSULE"
	if HDR + plen + TAG > n then
		t:add_proto_expert_info(e_short)
		t:add(f.msg, "?")
		return n
	end
	local ty = tvb(1, 1):uint()
	local name, info
	if ty == 1 then
		name, info = "DATA", ""
		t:add(f.tag, tvb(HDR + plen, TAG))
		t:add(f.msg, "DATA"):set_generated()
		t:append_text(string.format(", DATA from host %d, epoch %d", tvb(8, 4):uint(), tvb(12, 4):uint()))
		pinfo.cols.info = string.format("DATA host %d epoch %d", tvb(8, 4):uint(), tvb(12, 4):uint())
		if plen > 0 then
			-- the inner packet, as Wireshark's IPv4 dissector sees it (its columns win)
			ip_dissector:call(tvb(HDR, plen):tvb(), pinfo, tree)
		end
		return n
	elseif payload[ty] then
		name, info = payload[ty](t, tvb, HDR, plen)
	else
		name, info = string.format("type %d", ty), "unknown type"
	end
	t:add(f.tag, tvb(HDR + plen, TAG))   -- last, where it is in the datagram
	t:add(f.msg, name):set_generated()
	t:append_text(", " .. name)
	pinfo.cols.info = string.format("%s from host %d: %s", name, tvb(8, 4):uint(), info)
	return n
end

DissectorTable.get("udp.port"):add(7471, p)
