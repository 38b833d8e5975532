'use strict'

module.exports = require('neostandard')({
  ts: true,
  ignores: ['dist/**', 'bench/dist/**', 'coverage/**', '.tap/**', 'models/**']
})
