/**
 * The baseline of the webhook benchmark: a bare Express 5 server with one POST route that parses
 * a urlencoded body and answers a fixed TwiML document shaped like the real
 * /twilio/voice/incoming answer for the demo practice after hours (greeting, disclaimer,
 * language choice). No signature check, no I/O.
 *
 *   node --import tsx scripts/bench/bare-server.ts   (PORT, HOST; prints its URL)
 */
import express from 'express';
import type { AddressInfo } from 'node:net';

const BARE_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response>' +
  '<Say voice="Polly.Joanna" language="en-US">Thank you for calling Demo Family Medicine.</Say>' +
  '<Say voice="Polly.Joanna" language="en-US">If this is a medical emergency, hang up and dial 911.</Say>' +
  '<Say voice="Polly.Lupe" language="es-US">Si tiene una emergencia médica, cuelgue y marque el 911.</Say>' +
  '<Gather numDigits="1" timeout="6" action="/twilio/voice/flow?s=1&amp;n=language" method="POST" actionOnEmptyResult="true">' +
  '<Say voice="Polly.Joanna" language="en-US">For English, press 1.</Say>' +
  '<Say voice="Polly.Lupe" language="es-US">Para español, oprima 2.</Say>' +
  '</Gather>' +
  '</Response>';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/twilio/voice/incoming', express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }), (_req, res) => {
  res.status(200).type('text/xml').send(BARE_TWIML);
});

const port = Number(process.env['PORT'] ?? '0');
const host = process.env['HOST'] ?? '127.0.0.1';
const server = app.listen(port, host, (err?: Error) => {
  if (err) {
    process.stderr.write(`bare server: ${err.message}\n`);
    process.exit(1);
  }
  server.keepAliveTimeout = 65_000; // as the service does
  process.stdout.write(`bare server listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
