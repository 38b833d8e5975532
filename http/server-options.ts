// Fastify's constructor options: logging, request ids, deadlines and
// refusals of what Node's HTTP parser or Fastify's router turn away before
// any route, answered in the same JSON shapes as every other error.

import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyHttpOptions, FastifyReply } from 'fastify'
import type { DestinationStream } from 'pino'
import type { AppConfig } from '../lib/config/config'
import { fastifyErrorBody, protocolErrorBody } from '../schemas/errors'
import { bodyPending } from './body-pending'
import { RequestLogController } from './request-log-controller'

// How often Node looks for requests past REQUEST_TIMEOUT_MS (its default,
// 30 s, let a 1 s deadline stretch to 30 s). The check walks the open
// connections in C++; four times a second costs nothing measurable.
const CONNECTIONS_CHECKING_INTERVAL_MS = 250

// A client's id is kept when it is a sane token, so a trace can follow one
// request across services; anything else (huge, control characters) is replaced.
export const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'set-cookie'])

/** A copy of logged headers with credentials replaced. */
export function redactHeaders (headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null) return headers
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, CREDENTIAL_HEADERS.has(name.toLowerCase()) ? '[redacted]' : value as unknown]))
}

export function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

/** Fastify's constructor options for a configuration; logs go to `logStream` (default: stdout, synchronously). */
export function serverOptions (config: AppConfig, logStream?: DestinationStream): FastifyHttpOptions<Server> {
  const logController = new RequestLogController()
  const http = {
    // Node would answer a missing Host with an empty 400; the content-types
    // plugin refuses it in JSON instead.
    requireHostHeader: false,
    // Headers are part of the request: the same deadline. Node 20 also let a
    // dripped body run until headersTimeout (default 60 s) whatever
    // requestTimeout said. Node refuses a headersTimeout over requestTimeout
    // at construction, so both are given here.
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS
  }
  return {
    // With TLS_CERT_FILE and TLS_KEY_FILE, HTTPS: Fastify hands an https
    // server only these options, so the HTTP deadlines go in with the key.
    ...(config.tls === undefined ? {} : { https: { ...config.tls, ...http } }),
    logger: {
      level: config.logLevel,
      stream: logStream,
      // Credentials never reach a log: Fastify's req serializer writes no
      // headers, and a `headers` object logged anywhere goes through this one.
      // (pino's `redact` did the same at 1.5 µs on every line, headers or not.)
      serializers: { headers: redactHeaders }
    },
    genReqId: requestId,
    logController,
    bodyLimit: config.bodyLimit,
    // A client has this long to send a whole request, headers and body
    // (slow-loris defence); the clientErrorHandler answers 408. Node checks it
    // every connectionsCheckingInterval (below).
    requestTimeout: config.requestTimeoutMs,
    // An idle keep-alive connection is closed after this (Node adds a second
    // of grace, so a client reusing it just in time is not cut off).
    keepAliveTimeout: config.keepAliveTimeoutMs,
    trustProxy: config.trustProxy,
    routerOptions: {
      // Model names may be 128 characters; longer segments get a JSON 414.
      maxParamLength: 200
    },
    // A malformed URL (bad percent-encoding) or an over-long segment is caught
    // by the router before any route, and so before any scope's error
    // handler: answer in the shape the URL's scope would (its prefix is all
    // there is to go by here).
    frameworkErrors: (error, request, reply) => {
      const statusCode = error.statusCode ?? 400
      // These replies skip the response hooks, so their log line is written here.
      reply.raw.once('finish', () => logController.requestCompleted(null, request, reply as FastifyReply))
      reply.header('x-request-id', request.id)
      // Refused before the body was read: close rather than drain it (see plugins/connection-limits).
      if (bodyPending(request.raw)) reply.header('connection', 'close')
      const body = /^\/v2(\/|\?|$)/.test(request.url) ? protocolErrorBody : fastifyErrorBody
      ;(reply as FastifyReply).code(statusCode).send(body(statusCode, error.code, error.message))
    },
    http,
    // Requests Node's HTTP parser refuses (bad framing, huge headers) get the
    // same JSON shape as every other error.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return
      const statusCode = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
      const message = statusCode === 408
        ? 'the request was not received in time (REQUEST_TIMEOUT_MS)'
        : statusCode === 431 ? 'the request headers are larger than 16 KiB' : `malformed HTTP request: ${error.message}`
      const body = JSON.stringify({ statusCode, code: error.code ?? 'BAD_REQUEST', error: STATUS_CODES[statusCode], message })
      // After a response has begun (one sent before a body that then timed
      // out), another would corrupt it: only close. Node's own handler checks
      // the same internal field.
      const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
      if (socket.writable && response?.headersSent !== true) {
        socket.write(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
      }
      socket.destroy(error)
    },
    ajv: {
      customOptions: {
        // Refuse unknown keys with a message instead of silently dropping them.
        removeAdditional: false,
        // Never turn "1,2" or null into [..]: a body is taken as sent. Path
        // parameters are strings in the schemas for the same reason.
        coerceTypes: false,
        // Keeps the offending value on each error, so a message can say what was received.
        verbose: true
      }
    }
  }
}
