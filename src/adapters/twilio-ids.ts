/** A call's SID: CA and 32 lowercase hex characters (what the REST adapter accepts back from Twilio, and what the webhooks accept). */
export const CALL_SID_PATTERN = /^CA[0-9a-f]{32}$/;
