Feature: Reuse before generate, escalate on failure
  A similar tested artifact that passes the spec given now is served at no
  cost; otherwise the model ladder is climbed, each failure fed forward.

  Scenario: A failed attempt escalates with its failures in the next prompt
    Given an empty library
    And a ladder where the fast tier writes wrong code and the balanced tier writes right code
    When I ask for "add two numbers" with the add spec
    Then the artifact was generated on the "balanced" tier in 2 attempts
    And the balanced tier's prompt names the failure "adds small numbers: expected 5, got -1"

  Scenario: Asking again reuses the stored artifact without a model call
    Given an empty library
    And a ladder where the fast tier writes wrong code and the balanced tier writes right code
    When I ask for "add two numbers" with the add spec
    And I ask for "add two numbers" with the add spec
    Then the second answer was reused at no cost
    And the models were called 2 times in all
