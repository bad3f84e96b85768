Feature: Executable ground truth
  Code enters the library only with the proof that it passed its behaviour
  spec in the sandbox, and is found again by meaning.

  Scenario: Code that passes its spec is stored with a derived quality
    Given an empty library
    When I add code that sorts numbers with its spec
    Then the library holds 1 artifact
    And its quality is derived from pass rate, coverage, performance and robustness

  Scenario: Code that fails one behaviour is refused
    Given an empty library
    When I add code that returns an empty list for None with the sorting spec
    Then it is refused naming the behaviour "rejects None"
    And the library holds 0 artifacts

  Scenario: A search by meaning finds the sorting artifact first
    Given the starter library
    When I search for "order a list of numbers"
    Then the first result is "sort_list"
