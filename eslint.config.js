'use strict'

// The layering the README's architecture section describes, enforced:
// lib/ is the framework-free core (no Fastify, no transport, nothing of the
// HTTP layer); routes/ map HTTP to data-plane calls, so they import the
// protocols (codecs, views, wire schemas) and, of the rest of lib/, only types.
const httpLayer = ['plugins', 'routes', 'http', 'grpc', 'schemas', 'app', 'server'].map(dir => `^(\\.\\./)+${dir}(/|$)`)

module.exports = [
  ...require('neostandard')({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'models/**', 'bench/dist/**']
  }),
  {
    files: ['lib/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['fastify', 'fastify-plugin', '@fastify/*', '@grpc/*'], message: 'lib/ is framework-free: adapt it in plugins/ or a transport instead.' },
          { regex: httpLayer.join('|'), message: 'lib/ must not depend on a transport layer (plugins/, routes/, http/, grpc/, schemas/, app, server).' }
        ]
      }]
    }
  },
  {
    files: ['routes/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          {
            regex: '^(\\.\\./)+lib/(?!protocols/|errors$|models/names$)',
            allowTypeImports: true,
            message: 'A route calls the data plane (fastify.dataPlane) with a protocol\'s codec or view; of the rest of lib/ it imports only types.'
          },
          { regex: '^(\\.\\./)+plugins/', message: 'Routes share HTTP helpers through http/, not through plugin files.' }
        ]
      }]
    }
  }
]
