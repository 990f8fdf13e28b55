// Mocha reporter: the normal spec output, plus a JSON summary of mocha's own counts written to
// $KIT_TEST_RESULTS (default .kit-test-results.json) so .ci/run can print "N passed, N failed".
'use strict'
const fs = require('node:fs')
const Mocha = require('mocha')

const {EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING} = Mocha.Runner.constants

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    const counts = {passed: 0, failed: 0, skipped: 0, failures: []}
    runner.on(EVENT_TEST_PASS, () => counts.passed++)
    runner.on(EVENT_TEST_PENDING, () => counts.skipped++)
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      counts.failed++
      counts.failures.push({title: test.fullTitle(), message: String(err && err.message)})
    })
    runner.once(EVENT_RUN_END, () => {
      const out = process.env.KIT_TEST_RESULTS || '.kit-test-results.json'
      fs.writeFileSync(out, JSON.stringify(counts, null, 2) + '\n')
    })
  }
}

module.exports = SpecWithSummary
