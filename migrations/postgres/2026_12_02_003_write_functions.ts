// A direct message's send and a device's acknowledgement, each as one function call, and the
// direct sends of a batch as one call for all of them.
//
// Why: a node writes its batch on one connection, one statement after another, under the
// store_meta lock (2026_12_01_001). A send took nine round trips (savepoint, duplicate, recipient,
// pending, insert, event, devices, count, release) and an acknowledgement two more per message; the
// lock was held across all of them, so other nodes waited for this node's round trips. Here each
// is one statement, which refuses by its result rather than by an error: it writes nothing when
// it refuses, so it needs no savepoint either.
//
// Seqs stay the caller's: it passes the next free one and learns from the result how many were
// taken, so that seqs keep following commit order under the lock.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  // outcome: 'ok', 'duplicate' (id and created_at of the first), 'no_such_user' or 'mailbox_full'.
  // A released message takes seq p_seq in the recipient's inbox and, when the sender has other
  // devices, p_seq + 1 in the sender's (copy = true).
  `CREATE FUNCTION parley_send_direct(
    p_sender BIGINT, p_sender_device BIGINT, p_to TEXT, p_cid TEXT, p_text TEXT, p_normalized TEXT,
    p_at TEXT, p_max_pending BIGINT, p_seq BIGINT,
    OUT outcome TEXT, OUT id BIGINT, OUT created_at TEXT, OUT recipient_id BIGINT,
    OUT recipient TEXT, OUT sender TEXT, OUT released BOOLEAN, OUT copy BOOLEAN)
  LANGUAGE plpgsql AS $$
  DECLARE
    waiting BIGINT;
  BEGIN
    released := false;
    copy := false;
    SELECT m.id, m.created_at INTO id, created_at FROM messages m WHERE m.sender_id = p_sender AND m.cid = p_cid;
    IF FOUND THEN
      outcome := 'duplicate';
      RETURN;
    END IF;
    SELECT u.id, u.name, u.undelivered INTO recipient_id, recipient, waiting
      FROM users u WHERE lower(u.name) = lower(p_to) AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
      outcome := 'no_such_user';
      RETURN;
    END IF;
    IF waiting >= p_max_pending THEN
      outcome := 'mailbox_full';
      RETURN;
    END IF;
    SELECT u.name INTO sender FROM users u WHERE u.id = p_sender;
    -- A message normalized at intake must not overtake older ones still waiting.
    released := p_normalized IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.status = 'pending');
    created_at := p_at;
    IF released THEN
      INSERT INTO messages (sender_id, sender_device_id, recipient_id, cid, text, status, created_at, released_at)
        VALUES (p_sender, p_sender_device, recipient_id, p_cid, p_normalized, 'sent', p_at, p_at)
        RETURNING messages.id INTO id;
      INSERT INTO inbox_events (user_id, seq, kind, message_id, skip_device_id, created_at)
        VALUES (recipient_id, p_seq, 'message', id, NULL, p_at);
      IF recipient_id <> p_sender AND (SELECT count(*) FROM devices d WHERE d.user_id = p_sender) > 1 THEN
        INSERT INTO inbox_events (user_id, seq, kind, message_id, skip_device_id, created_at)
          VALUES (p_sender, p_seq + 1, 'message', id, p_sender_device, p_at);
        copy := true;
      END IF;
    ELSE
      INSERT INTO messages (sender_id, sender_device_id, recipient_id, cid, raw_text, status, created_at)
        VALUES (p_sender, p_sender_device, recipient_id, p_cid, p_text, 'pending', p_at)
        RETURNING messages.id INTO id;
    END IF;
    UPDATE users SET undelivered = undelivered + 1 WHERE users.id = recipient_id;
    outcome := 'ok';
  END
  $$`,

  // The sends of a batch in one call, in order, each as parley_send_direct with the seqs the
  // ones before it left: a row per send, in the order given.
  `CREATE FUNCTION parley_send_direct_many(
    p_sender BIGINT[], p_sender_device BIGINT[], p_to TEXT[], p_cid TEXT[], p_text TEXT[],
    p_normalized TEXT[], p_at TEXT[], p_max_pending BIGINT[], p_seq BIGINT)
  RETURNS SETOF record LANGUAGE plpgsql AS $$
  DECLARE
    sent RECORD;
    next_seq BIGINT := p_seq;
  BEGIN
    FOR i IN 1 .. coalesce(array_length(p_sender, 1), 0) LOOP
      SELECT * INTO sent FROM parley_send_direct(p_sender[i], p_sender_device[i], p_to[i], p_cid[i], p_text[i],
        p_normalized[i], p_at[i], p_max_pending[i], next_seq);
      IF sent.released THEN
        next_seq := next_seq + CASE WHEN sent.copy THEN 2 ELSE 1 END;
      END IF;
      RETURN NEXT sent;
    END LOOP;
  END
  $$`,

  // Moves the device's position; the messages this delivers (acknowledged before any other device
  // of the user) become delivered, and each live sender gets a receipt at p_seq, p_seq + 1, …:
  // one row per receipt, in seq order.
  `CREATE FUNCTION parley_acknowledge(p_user BIGINT, p_device BIGINT, p_up_to BIGINT, p_at TEXT, p_seq BIGINT)
  RETURNS TABLE (seq BIGINT, message_id BIGINT, sender_id BIGINT)
  LANGUAGE plpgsql AS $$
  DECLARE
    delivered_up_to BIGINT;
    delivered BIGINT := 0;
    m RECORD;
  BEGIN
    -- Delivered is decided by the first device to acknowledge: the user's furthest position.
    SELECT coalesce(max(d.acked_seq), 0) INTO delivered_up_to FROM devices d WHERE d.user_id = p_user;
    UPDATE devices SET acked_seq = GREATEST(acked_seq, p_up_to), last_seen_at = p_at WHERE devices.id = p_device;
    IF p_up_to <= delivered_up_to THEN
      RETURN;
    END IF;
    seq := p_seq;
    FOR m IN
      SELECT x.id, x.status, x.delivered_at, x.sender_id, s.deleted_at IS NULL AS sender_live
        FROM inbox_events e
        JOIN messages x ON x.id = e.message_id
        JOIN users s ON s.id = x.sender_id
        WHERE e.user_id = p_user AND e.seq > delivered_up_to AND e.seq <= p_up_to AND e.kind = 'message'
          AND x.recipient_id = e.user_id
        ORDER BY e.seq
    LOOP
      CONTINUE WHEN m.delivered_at IS NOT NULL;
      -- A message read before it was acknowledged gets its delivery time, not a second receipt.
      IF m.status = 'read' THEN
        UPDATE messages SET delivered_at = p_at WHERE messages.id = m.id;
        delivered := delivered + 1;
        CONTINUE;
      END IF;
      -- An expired one was counted out when it expired.
      CONTINUE WHEN m.status <> 'sent';
      delivered := delivered + 1;
      UPDATE messages SET status = 'delivered', delivered_at = p_at WHERE messages.id = m.id;
      IF m.sender_live THEN
        INSERT INTO inbox_events (user_id, seq, kind, message_id, receipt_status, created_at)
          VALUES (m.sender_id, seq, 'receipt', m.id, 'delivered', p_at);
        message_id := m.id;
        sender_id := m.sender_id;
        RETURN NEXT;
        seq := seq + 1;
      END IF;
    END LOOP;
    IF delivered > 0 THEN
      UPDATE users SET undelivered = undelivered - delivered WHERE users.id = p_user;
    END IF;
  END
  $$`,
];

const DOWN = [
  "DROP FUNCTION parley_acknowledge(BIGINT, BIGINT, BIGINT, TEXT, BIGINT)",
  "DROP FUNCTION parley_send_direct_many(BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[], BIGINT)",
  "DROP FUNCTION parley_send_direct(BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT)",
];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
